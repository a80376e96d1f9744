"""tw.nn.utils against PyTorch: gradient clipping (in place, the norm a device tensor, no host
sync) and parameters <-> one vector."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch")
U = tw.nn.utils


def _pair(device, scale=1.0):
    """Three parameters with gradients, here (on ``device``) and in PyTorch, the same values."""
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    grads = [rng.standard_normal(s) * scale for s in shapes]
    ours, theirs = [], []
    for g in grads:
        p = tw.nn.Parameter(tw.zeros(*g.shape, dtype=tw.float64, device=device))
        p.grad = tw.tensor(g, device=device)
        q = torch.nn.Parameter(torch.zeros(*g.shape, dtype=torch.float64))
        q.grad = torch.tensor(g)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm, device):
    ours, theirs = _pair(device)
    total = U.clip_grad_norm_(ours, max_norm, norm_type=norm_type, foreach=True)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, tw.Tensor) and total.shape == () and total.device == tw.device(device)
    np.testing.assert_allclose(total.numpy(), t_total.numpy(), rtol=1e-12)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_makes_no_host_transfer():
    ours, _ = _pair("strict")
    b = tw.backends.get_backend("strict")
    grads = [p.grad for p in ours]
    before = b.transfers
    total = U.clip_grad_norm_(ours, 0.1)
    U.clip_grad_value_(ours, 0.01)
    assert b.transfers == before
    assert all(p.grad is g for p, g in zip(ours, grads, strict=True))  # in place
    assert total.device == tw.device("strict")


def test_clip_grad_norm_edge_cases():
    p = tw.nn.Parameter(tw.zeros(2))
    assert U.clip_grad_norm_(p, 1.0).item() == 0.0  # no gradients: tensor(0.)
    p.grad = tw.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        U.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with np.errstate(invalid="ignore"):  # inf * 0, as in PyTorch: the gradient becomes nan
        assert math.isinf(U.clip_grad_norm_(p, 1.0).item())
    assert np.isnan(p.grad.numpy()[0])
    ours, theirs = _pair("cpu")
    t = U.get_total_norm([q.grad for q in ours], 2.0)
    np.testing.assert_allclose(t.numpy(), torch.nn.utils.get_total_norm([q.grad for q in theirs]).numpy())


def test_clip_grad_value_matches_pytorch(device):
    ours, theirs = _pair(device, scale=2.0)
    U.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
        assert p.grad.device == tw.device(device)


def test_parameters_to_vector_and_back(device):
    m = tw.nn.Linear(3, 2, device=device)
    tm = torch.nn.Linear(3, 2)
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    v = U.parameters_to_vector(m.parameters())
    np.testing.assert_allclose(
        v.detach().numpy(), torch.nn.utils.parameters_to_vector(tm.parameters()).detach().numpy()
    )
    assert v.shape == (8,) and v.device == tw.device(device)
    v.sum().backward()  # differentiable
    assert m.weight.grad.numpy().all()
    new = tw.arange(8, dtype=tw.float32, device=device)
    w = m.weight
    U.vector_to_parameters(new, m.parameters())
    assert m.weight is w
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(m.bias.detach().numpy(), [6, 7])
    with pytest.raises(TypeError, match="expected tensorweaver.Tensor"):
        U.vector_to_parameters([1.0] * 8, m.parameters())
    with pytest.raises(ValueError, match="expected a 1-D vector of 8 elements"):
        U.vector_to_parameters(tw.zeros(7, device=device), m.parameters())
    with pytest.raises(TypeError, match="different devices"):
        U.parameters_to_vector([tw.zeros(1), tw.zeros(1, device="strict")])
