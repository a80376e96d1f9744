"""Products beyond matmul on every backend: linear, scaled dot-product attention, cosine similarity, pairwise distance
(matmul itself is in test_ops_core.py)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from helpers import (
    check_op,
    check_second_order,
    consts,
    np_log_softmax,
    to_numpy,
)


def test_linear(device):
    check_op(F.linear, lambda x, w: x @ w.T, [((5, 3), (4, 3)), ((2, 5, 3), (4, 3))], device)
    check_op(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b, [((5, 3), (4, 3), (4,))], device)
    check_op(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b, [((0, 3), (4, 3), (4,))], device)


def test_linear_of_a_matrix_is_one_op(device):
    # x (N, in) with a bias: one node (the bias added in place into the product), its first and
    # second derivatives those of x @ w.T + b
    x = consts(np.arange(6.0).reshape(2, 3) / 5, device).requires_grad_()
    w = consts(np.arange(12.0).reshape(4, 3) / 7 - 0.5, device).requires_grad_()
    b = consts([0.1, -0.2, 0.3, 0.4], device).requires_grad_()
    y = F.linear(x, w, b)
    assert y.grad_fn.name == "LinearBackward"
    assert [type(f).__name__ for f, _ in y.grad_fn.next_functions] == ["AccumulateGrad"] * 3
    check_second_order(lambda x, w, b: (F.linear(x, w, b) ** 2).sum(), [(2, 3), (4, 3), (4,)], device)


def np_attention(q, k, v, mask=None, causal=False, scale=None):
    s = q @ np.swapaxes(k, -1, -2) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if causal:
        mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    return np.exp(np_log_softmax(s, -1)) @ v


def test_scaled_dot_product_attention(device):
    shapes = [((2, 3, 4), (2, 5, 4), (2, 5, 2))]
    bool_mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    float_mask = np.random.default_rng(0).normal(size=(3, 5))
    sdpa = F.scaled_dot_product_attention
    check_op(sdpa, np_attention, shapes, device)
    check_op(lambda q, k, v: sdpa(q, k, v, scale=0.3), lambda q, k, v: np_attention(q, k, v, scale=0.3), shapes, device)
    check_op(
        lambda q, k, v: sdpa(q, k, v, tw.tensor(bool_mask, device=device)),
        lambda q, k, v: np_attention(q, k, v, bool_mask),
        shapes,
        device,
    )
    check_op(
        lambda q, k, v: sdpa(q, k, v, consts(float_mask, device)),
        lambda q, k, v: np_attention(q, k, v, float_mask),
        shapes,
        device,
    )
    check_op(
        lambda q, k, v: sdpa(q, k, v, is_causal=True),
        lambda q, k, v: np_attention(q, k, v, causal=True),
        [((2, 4, 3), (2, 4, 3), (2, 4, 2))],
        device,
    )


def test_cosine_similarity_and_pairwise_distance(device):
    def cos(a, b):
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    check_op(F.cosine_similarity, cos, [((3, 4), (3, 4)), ((3, 4), (1, 4))], device)
    check_op(F.pairwise_distance, lambda a, b: np.linalg.norm(a - b + 1e-6, axis=-1), [((3, 4), (3, 4))], device)
    tiny = F.cosine_similarity(consts([[1e-9, 0.0]], device), consts([[1e-9, 1e-9]], device))
    np.testing.assert_allclose(to_numpy(tiny), [0.01])  # each norm clamped at eps, as in PyTorch


SECOND_ORDER = {
    "attention": (F.scaled_dot_product_attention, [(1, 2, 3), (1, 3, 3), (1, 3, 2)]),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name, device):
    check_second_order(*SECOND_ORDER[name], device)


def test_matmul_shape_mismatch_is_a_runtime_error_and_a_value_error(device):
    for a, b in (((2, 3), (4, 2)), ((3,), (4,))):
        x, y = tw.zeros(*a, device=device), tw.zeros(*b, device=device)
        with pytest.raises(RuntimeError, match="cannot be multiplied"):
            x @ y
        with pytest.raises(ValueError):
            tw.matmul(x, y)
