"""Second derivatives of the functions tw.nn.functional composes itself: the Hessian-vector product
by double backward against finite differences of the gradient, on every backend (no PyTorch needed).

``NN_SECOND_ORDER`` has the format of ``SECOND_ORDER`` in tests/test_autograd_api.py, which
tests/test_ops_table.py reads to mark ops twice differentiable in docs/ops.md.
"""

from __future__ import annotations

import pytest

import tensorweaver as tw

F = tw.nn.functional


# "F.<name>" -> cases (fn, input shapes, options of check_second_order)
NN_SECOND_ORDER = {
    "F.adaptive_avg_pool1d": [(lambda x: F.adaptive_avg_pool1d(x, 2), [(1, 2, 5)], {})],
    "F.bilinear": [(F.bilinear, [(2, 3), (2, 2), (2, 3, 2), (2,)], {})],
    "F.celu": [(lambda x: F.celu(x, 0.7), [(2, 3)], {})],
    "F.conv_transpose1d": [(lambda x, w: F.conv_transpose1d(x, w, stride=2, padding=1), [(1, 2, 3), (2, 1, 3)], {})],
    "F.conv_transpose2d": [
        (
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, output_padding=1),
            [(1, 2, 2, 2), (2, 1, 2, 2), (1,)],
            {},
        )
    ],
    "F.dropout1d": [(lambda x: F.dropout1d(x, 0.5, training=False), [(2, 3)], {})],
    "F.glu": [(F.glu, [(2, 4)], {})],
    "F.hardshrink": [(lambda x: F.hardshrink(x, 0.3), [(2, 3)], {})],
    "F.hardsigmoid": [(lambda x: F.hardsigmoid(x * 2), [(2, 3)], {})],
    "F.hardswish": [(lambda x: F.hardswish(x * 2), [(2, 3)], {})],
    "F.hardtanh": [(lambda x: F.hardtanh(x, -1.3, 0.9), [(2, 3)], {})],
    "F.mish": [(F.mish, [(2, 3)], {})],
    "F.multi_head_attention_forward": [
        (
            lambda q, w, ow: F.multi_head_attention_forward(q, q, q, 2, 2, w, None, None, None, False, 0.0, ow, None)[
                0
            ],
            [(2, 1, 2), (6, 2), (2, 2)],
            {},
        )
    ],
    "F.prelu": [(F.prelu, [(2, 3, 2), (3,)], {})],
    "F.relu6": [(lambda x: F.relu6(x * 4), [(2, 3)], {})],
    "F.rms_norm": [(lambda x, w: F.rms_norm(x, (3,), w), [(2, 3), (3,)], {})],
    "F.selu": [(F.selu, [(2, 3)], {})],
    "F.softshrink": [(lambda x: F.softshrink(x, 0.3), [(2, 3)], {})],
    "F.softsign": [(F.softsign, [(2, 3)], {})],
    "F.tanhshrink": [(F.tanhshrink, [(2, 3)], {})],
    "F.threshold": [(lambda x: F.threshold(x, 0.1, -1.0) * x, [(2, 3)], {})],
}


@pytest.mark.parametrize(
    "fn, shapes, opts",
    [pytest.param(*c, id=f"{n}-{k}") for n, cases in sorted(NN_SECOND_ORDER.items()) for k, c in enumerate(cases)],
)
def test_second_order(fn, shapes, opts, device):
    from test_autograd_api import check_second_order

    check_second_order(fn, shapes, device, **opts)


def test_every_added_function_has_a_second_order_case():
    """Each composition defined in tw.nn.functional itself (not re-exported from tensorweaver.ops)."""
    added = {f"F.{n}" for n in F.__all__ if getattr(getattr(F, n), "__module__", "") == F.__name__}
    assert added == set(NN_SECOND_ORDER)
