"""The autograd API on every backend: grad(), higher-order gradients (and every op's second
derivative), custom Functions, gradcheck, hooks and retain_grad, anomaly mode."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn.functional as F
from helpers import make_inputs, to_numpy

grad = tw.autograd.grad


def t64(a, device, requires_grad=False):
    return tw.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=requires_grad)


# -- second derivatives ----------------------------------------------------------------------------
def check_second_order(fn, shapes, device, *, low=-2.0, high=2.0, eps=1e-6, rtol=1e-5, atol=1e-8, seed=0):
    """Check that ``fn``'s backward is itself differentiable: the Hessian-vector product of
    ``s(x) = sum(u * fn(x)**2)`` by double backward (``create_graph=True``) against central finite
    differences of the analytic first gradient along each input element, in float64.

    The square makes the first gradient depend on ``x`` even for linear ops, so that their
    backward is differentiated too.
    """
    arrays, xs = make_inputs(shapes, device, low=low, high=high, seed=seed)
    rng = np.random.default_rng(seed + 50)
    out_shape = fn(*xs).shape
    u = tw.tensor(rng.uniform(0.5, 1.5, size=out_shape), device=device)
    vs = [rng.uniform(-1.0, 1.0, size=s) for s in shapes]
    v_t = [tw.tensor(v, device=device) for v in vs]

    def directional(tensors, create_graph):
        """<grad s(x), v> (a scalar Tensor) and the first gradients."""
        y = fn(*tensors)
        gs = grad((y * y * u).sum(), tensors, create_graph=create_graph, allow_unused=True)
        terms = [(g * v).sum() for g, v in zip(gs, v_t, strict=True) if g is not None]
        assert terms, "no input got a gradient"
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total, gs

    dot, gs = directional(xs, True)
    for i, g in enumerate(gs):
        if g is not None:
            assert g.device == tw.device(device) and g.shape == xs[i].shape, f"first grad {i}: {g.device} {g.shape}"
    hv = grad(dot, xs, allow_unused=True) if dot.requires_grad else [None] * len(xs)
    for i, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        flat = numeric.reshape(-1)
        for j in range(a.size):
            vals = []
            for sign in (1, -1):
                b = a.copy()
                b.reshape(-1)[j] += sign * eps
                ts = [tw.tensor(b, device=device, requires_grad=True) if k == i else x for k, x in enumerate(xs)]
                vals.append(directional(ts, False)[0].item())
            flat[j] = (vals[0] - vals[1]) / (2 * eps)
        analytic = np.zeros_like(a) if hv[i] is None else to_numpy(hv[i])
        if hv[i] is not None:
            assert hv[i].device == tw.device(device), f"second grad {i} on {hv[i].device}"
        np.testing.assert_allclose(
            analytic, numeric, rtol=rtol, atol=atol, err_msg=f"Hessian-vector product, input {i}"
        )


def _idx(a, values):
    """An int64 index tensor on ``a``'s device."""
    return tw.tensor(values, dtype=tw.int64, device=a.device)


_BINARY = [((3, 4), (4,)), ((2, 1, 3), (3, 1)), ((), (2, 3))]
_MATMUL = [
    ((3, 4), (4, 2)),
    ((4,), (4,)),
    ((4,), (4, 2)),
    ((3, 4), (4,)),
    ((2, 3, 4), (4, 2)),
    ((2, 1, 2, 3), (2, 3, 2)),
]
_POS = {"low": 0.5, "high": 2.0}

# op name (as in tw.ops.__all__) -> cases (fn, input shapes, options of check_second_order).
# docs/ops.md marks these ops twice-differentiable (tests/test_ops_table.py reads this table).
SECOND_ORDER = {
    "add": [(lambda a, b: a + b, s, {}) for s in _BINARY] + [(lambda a: 2.0 + a, [(2, 3)], {})],
    "sub": [(lambda a, b: a - b, s, {}) for s in _BINARY] + [(lambda a: a - 2.0, [(2, 3)], {})],
    "mul": [(lambda a, b: a * b, s, {}) for s in _BINARY] + [(lambda a: 3.0 * a, [(2, 3)], {})],
    "div": [(lambda a, b: a / b, s, _POS) for s in _BINARY] + [(lambda a: a / 3.0, [(2, 3)], _POS)],
    "pow": [(lambda a, b: a**b, s, _POS) for s in _BINARY]
    + [(lambda a, c=c: a**c, [(2, 3)], _POS) for c in (2, 3, 0.5, -1.5)],
    "neg": [(lambda a: -a, [(2, 3)], {})],
    "clone": [(lambda a: tw.clone(a) * a, [(2, 3)], {})],
    "exp": [(tw.exp, [(2, 3)], {})],
    "log": [(tw.log, [(2, 3)], _POS)],
    "abs": [(lambda a: tw.abs(a), [(2, 3)], {})],
    "sqrt": [(lambda a: tw.sqrt(a), [(2, 3)], _POS)],
    "rsqrt": [(lambda a: tw.rsqrt(a), [(2, 3)], _POS)],
    "sin": [(lambda a: tw.sin(a), [(2, 3)], {})],
    "cos": [(lambda a: tw.cos(a), [(2, 3)], {})],
    "tanh": [(lambda a: tw.tanh(a), [(2, 3)], {})],
    "sigmoid": [(lambda a: tw.sigmoid(a), [(2, 3)], {})],
    "relu": [(lambda a: tw.relu(a), [(2, 3)], {})],
    "leaky_relu": [(lambda a: tw.leaky_relu(a, 0.1), [(2, 3)], {})],
    "elu": [(lambda a: tw.elu(a, 0.7), [(2, 3)], {})],
    "erf": [(lambda a: tw.erf(a), [(2, 3)], {})],
    "gelu": [(lambda a: tw.gelu(a), [(2, 3)], {}), (lambda a: tw.gelu(a, approximate="tanh"), [(2, 3)], {})],
    "silu": [(lambda a: tw.silu(a), [(2, 3)], {})],
    "softplus": [
        (lambda a: tw.softplus(a), [(2, 3)], {}),
        (lambda a: tw.softplus(a, beta=2.0, threshold=1.0), [(2, 3)], {}),
    ],
    "logsigmoid": [(lambda a: tw.logsigmoid(a), [(2, 3)], {})],
    "log1p": [(lambda a: tw.log1p(a), [(2, 3)], {"low": -0.5, "high": 2.0})],
    "expm1": [(lambda a: tw.expm1(a), [(2, 3)], {})],
    "sign": [(lambda a: tw.sign(a) * a, [(2, 3)], {})],
    "clamp": [
        (lambda a: tw.clamp(a, -1.0, 1.0), [(2, 3)], {}),
        (lambda a, lo: tw.clamp(a, min=lo), [(2, 3), (3,)], {}),
    ],
    "clip": [(lambda a: tw.clip(a, max=0.5), [(2, 3)], {})],
    "maximum": [(lambda a, b: tw.maximum(a, b), s, {}) for s in _BINARY[:2]],
    "remainder": [(lambda a, b: tw.remainder(a, b) * a * b, s, _POS) for s in _BINARY[:2]],
    "__mod__": [(lambda a: (a % 0.7) * a, [(2, 3)], _POS)],
    "__rmod__": [(lambda a: (2.5 % a) * a, [(2, 3)], {"low": 0.6, "high": 2.0})],
    "minimum": [(lambda a, b: tw.minimum(a, b), s, {}) for s in _BINARY[:2]],
    "where": [
        (lambda a, b: tw.where(a > 0, a * a, b), [(2, 3), (3,)], {}),
        (lambda a, b: a.where(a < 0, b), [(3,), (3,)], {}),
    ],
    "floor": [(lambda a: tw.floor(a) * a, [(2, 3)], {})],
    "ceil": [(lambda a: tw.ceil(a) * a, [(2, 3)], {})],
    "trunc": [(lambda a: tw.trunc(a) * a, [(2, 3)], {})],
    "round": [(lambda a: tw.round(a) * a, [(2, 3)], {})],
    "square": [(lambda a: tw.square(a), [(2, 3)], {})],
    "reciprocal": [(lambda a: tw.reciprocal(a), [(2, 3)], _POS)],
    "log2": [(lambda a: tw.log2(a), [(2, 3)], _POS)],
    "log10": [(lambda a: tw.log10(a), [(2, 3)], _POS)],
    "clamp_min": [(lambda a: tw.clamp_min(a, -0.5), [(2, 3)], {})],
    "clamp_max": [(lambda a: tw.clamp_max(a, 0.5), [(2, 3)], {})],
    "sum": [
        (lambda a: a.sum(), [(2, 3, 2)], {}),
        (lambda a: a.sum(dim=1), [(2, 3, 2)], {}),
        (lambda a: a.sum(dim=(0, 2), keepdim=True), [(2, 3, 2)], {}),
    ],
    "mean": [(lambda a: a.mean(), [(2, 3, 2)], {}), (lambda a: a.mean(dim=-1, keepdim=True), [(2, 3, 2)], {})],
    "sum_to": [(lambda a: tw.sum_to(a, (1, 3, 1)), [(2, 3, 2)], {})],
    "broadcast_to": [(lambda a: tw.broadcast_to(a, (2, 2, 3, 2)), [(2, 3, 2)], {})],
    "var": [
        (lambda a: tw.var(a), [(2, 3)], {}),
        (lambda a: tw.var(a, dim=1, correction=0, keepdim=True), [(2, 3)], {}),
    ],
    "std": [(lambda a: tw.std(a), [(2, 3)], {}), (lambda a: tw.std(a, dim=0), [(2, 3)], {})],
    "prod": [(lambda a: tw.prod(a), [(2, 3)], _POS), (lambda a: tw.prod(a, dim=1), [(2, 3)], {})],
    "max": [(lambda a: tw.max(a), [(2, 3)], {}), (lambda a: tw.max(a, 1)[0], [(2, 3)], {})],
    "min": [(lambda a: tw.min(a), [(2, 3)], {}), (lambda a: tw.min(a, 0, keepdim=True)[0], [(2, 3)], {})],
    "amax": [(lambda a: tw.amax(a, 1), [(2, 3)], {})],
    "amin": [(lambda a: tw.amin(a, (0, 1)), [(2, 3)], {})],
    "logsumexp": [(lambda a: tw.logsumexp(a, 1), [(2, 3)], {})],
    "norm": [
        (lambda a: tw.norm(a), [(2, 3)], {}),
        (lambda a: tw.norm(a, p=1, dim=1), [(2, 3)], {}),
        (lambda a: tw.norm(a, p=3, dim=0), [(2, 3)], {}),
    ],
    "cumsum": [(lambda a: tw.cumsum(a, 1), [(2, 3)], {})],
    "reshape": [(lambda a: a.reshape(3, -1), [(2, 3, 2)], {})],
    "view": [(lambda a: tw.view(a, (6, 2)), [(2, 3, 2)], {})],
    "permute": [(lambda a: a.permute(2, 0, 1), [(2, 3, 2)], {})],
    "transpose": [(lambda a: a.transpose(0, 1), [(2, 3, 2)], {})],
    "flatten": [(lambda a: tw.flatten(a, 1), [(2, 3, 2)], {})],
    "unflatten": [(lambda a: tw.unflatten(a, 1, (2, 2)), [(3, 4)], {})],
    "squeeze": [(lambda a: tw.squeeze(a), [(2, 1, 3)], {})],
    "unsqueeze": [(lambda a: tw.unsqueeze(a, 1), [(2, 3)], {})],
    "expand": [(lambda a: tw.expand(a, 2, -1, 3), [(4, 1)], {})],
    "narrow": [(lambda a: tw.narrow(a, 1, 1, 2), [(2, 4)], {})],
    "cat": [(lambda a, b: tw.cat([a, b, a], dim=1), [(2, 3), (2, 1)], {})],
    "concat": [(lambda a, b: tw.concat([a, b], 0), [(2, 3), (1, 3)], {})],
    "concatenate": [(lambda a, b: tw.concatenate([a, b], 0), [(2, 3), (1, 3)], {})],
    "stack": [(lambda a, b: tw.stack([a, b], dim=1), [(2, 3), (2, 3)], {})],
    "split": [(lambda a: tw.split(a, [1, 2], dim=1)[1] * tw.split(a, 2, dim=1)[0].sum(), [(2, 3)], {})],
    "chunk": [(lambda a: tw.chunk(a, 2, dim=0)[1], [(4, 2)], {})],
    "repeat": [(lambda a: tw.repeat(a, 2, 1, 3), [(2, 3)], {})],
    "flip": [(lambda a: tw.flip(a, (0, 1)), [(2, 3)], {})],
    "tril": [(lambda a: tw.tril(a), [(3, 3)], {})],
    "triu": [(lambda a: tw.triu(a, 1), [(3, 4)], {})],
    "pad": [
        (lambda a: tw.pad(a, (1, 2), value=0.5), [(2, 3)], {}),
        (lambda a: tw.pad(a, (1, 1, 1, 0), mode="reflect"), [(1, 3, 3)], {}),
        (lambda a: tw.pad(a, (2, 1), mode="replicate"), [(1, 2, 3)], {}),
        (lambda a: tw.pad(a, (1, 2), mode="circular"), [(1, 2, 3)], {}),
    ],
    "matmul": [(lambda a, b: a @ b, s, {}) for s in _MATMUL],
    "mm": [(lambda a, b: tw.mm(a, b), [(2, 3), (3, 2)], {})],
    "bmm": [(lambda a, b: tw.bmm(a, b), [(2, 2, 3), (2, 3, 2)], {})],
    "sort": [(lambda a: tw.sort(a * a).values, [(2, 3)], {}), (lambda a: tw.sort(a, 0, True)[0] * a, [(3, 2)], {})],
    "topk": [(lambda a: tw.topk(a, 2).values * a[:, :2], [(2, 3)], {})],
    "msort": [(lambda a: tw.msort(a) * a, [(3, 2)], {})],
    "roll": [(lambda a: tw.roll(a, 1, 1) * a, [(2, 3)], {})],
    "select": [(lambda a: tw.select(a, 1, 0) * a[:, 1], [(2, 3)], {})],
    "unbind": [(lambda a: tw.unbind(a, 0)[1] * a[0], [(2, 3)], {})],
    "masked_select": [(lambda a: tw.masked_select(a * a, a > 0.5), [(3, 4)], {})],  # no mask edge at 0
    "einsum": [
        (lambda a, b: tw.einsum("bij,bjk->bik", a, b), [(2, 2, 3), (2, 3, 2)], {}),
        (lambda a, b: tw.einsum("i,j->ij", a, b), [(3,), (2,)], {}),
    ],
    "dot": [(lambda a, b: tw.dot(a, b), [(3,), (3,)], {})],
    "outer": [(lambda a, b: tw.outer(a, b), [(3,), (2,)], {})],
    "addmm": [(lambda c, a, b: tw.addmm(c, a, b, beta=0.5, alpha=2.0), [(2, 3), (2, 4), (4, 3)], {})],
    "softmax": [(lambda a: tw.softmax(a, dim=1), [(2, 3)], {})],
    "log_softmax": [(lambda a: tw.log_softmax(a, dim=0), [(2, 3)], {})],
    "masked_fill": [(lambda a: tw.masked_fill(a, a > 0.5, -1.0), [(2, 3)], {})],
    "gather": [(lambda a: tw.gather(a, 1, _idx(a, [[0, 2, 2], [1, 0, 1]])), [(2, 3)], {})],
    "scatter_add": [
        (lambda a, b: tw.scatter_add(a * b.sum(), 1, _idx(a, [[0, 2], [1, 1]]), b * b), [(2, 3), (2, 2)], {})
    ],
    "index_select": [(lambda a: tw.index_select(a, 0, _idx(a, [2, 0, 2])), [(3, 2)], {})],
    "conv1d": [(lambda x, w, b: tw.conv1d(x, w, b, stride=2, padding=1), [(1, 2, 5), (3, 2, 2), (3,)], {})],
    "conv2d": [(lambda x, w: tw.conv2d(x, w, padding=1, dilation=2), [(1, 2, 3, 3), (2, 2, 2, 2)], {})],
    "max_pool2d": [(lambda x: tw.max_pool2d(x, 2, stride=1), [(1, 1, 3, 3)], {})],
    # Tensor methods and operators that are not a tw.* function
    "__rsub__": [(lambda a: 2.0 - a, [(2, 3)], {})],
    "__rtruediv__": [(lambda a: 3.0 / a, [(2, 3)], _POS)],
    "__rpow__": [(lambda a: 2.0**a, [(2, 3)], {})],
    "__pos__": [(lambda a: +a, [(2, 3)], {})],
    "__rmatmul__": [(lambda a, b: tw.Tensor.__rmatmul__(b, a), [(2, 3), (3, 2)], {})],
    "T": [(lambda a: a.T, [(2, 3, 2)], {})],
    "mT": [(lambda a: a.mT, [(2, 3, 2)], {})],
    "t": [(lambda a: a.t(), [(2, 3)], {})],
    "__getitem__": [
        (lambda a: a[1:, ::2], [(3, 4)], {}),
        (lambda a: a[_idx(a, [2, 0, 2]), 1:], [(3, 3)], {}),
        (lambda a: a[a > 0.5], [(3, 3)], {}),
        (lambda a: a[None, ..., -1], [(2, 3)], {}),
    ],
    "expand_as": [(lambda a, b: a.expand_as(b), [(3, 1), (2, 3, 4)], {})],
    "reshape_as": [(lambda a, b: a.reshape_as(b), [(2, 3), (3, 2)], {})],
    "view_as": [(lambda a, b: a.view_as(b), [(2, 3), (6,)], {})],
    "to_backend": [(lambda a: tw.to_backend(tw.to_backend(a, tw.backends.cpu) * 2.0, a._backend), [(2, 3)], {})],
    "astype": [
        (lambda a: tw.astype(a, tw.float32).to(tw.float64), [(2, 3)], {"eps": 1e-3, "rtol": 1e-2, "atol": 1e-3})
    ],
}


def _seeded_dropout(a):
    tw.manual_seed(0)  # the same mask at every evaluation
    return F.dropout(a, 0.5)


def _seeded_dropout2d(a):
    tw.manual_seed(0)  # the same mask at every evaluation
    return F.dropout2d(a, 0.5)


def _batch_norm(x, w, b):
    c = x.shape[1]
    rm, rv = tw.zeros(c, dtype=tw.float64, device=x.device), tw.ones(c, dtype=tw.float64, device=x.device)
    return F.batch_norm(x, rm, rv, w, b, training=True)


def _fixed(a, shape, low=0.1, high=0.9):
    """Constant values (targets, class weights) on ``a``'s device, the same at every evaluation."""
    return tw.tensor(np.random.default_rng(7).uniform(low, high, size=shape), device=a.device)


def _probs(a, shape):
    p = _fixed(a, shape)
    return p / p.sum(dim=-1, keepdim=True)


# tw.nn.functional functions that are not a tw.* op, keyed "F.<name>"
SECOND_ORDER.update(
    {
        "F.adaptive_avg_pool2d": [(lambda x: F.adaptive_avg_pool2d(x, (2, 2)), [(1, 2, 3, 3)], {})],
        "F.avg_pool1d": [(lambda x: F.avg_pool1d(x, 2, stride=1), [(1, 2, 4)], {})],
        "F.avg_pool2d": [
            (lambda x: F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False), [(1, 1, 3, 3)], {})
        ],
        "F.batch_norm": [(_batch_norm, [(4, 3), (3,), (3,)], {})],
        "F.binary_cross_entropy": [(lambda a: F.binary_cross_entropy(tw.sigmoid(a), _fixed(a, (2, 3))), [(2, 3)], {})],
        "F.binary_cross_entropy_with_logits": [
            (lambda a, w: F.binary_cross_entropy_with_logits(a, _fixed(a, (2, 3)), pos_weight=w), [(2, 3), (3,)], {})
        ],
        "F.cosine_similarity": [(lambda a, b: F.cosine_similarity(a, b), [(2, 3), (2, 3)], {})],
        "F.cross_entropy": [
            (lambda a: F.cross_entropy(a, _idx(a, [0, 3, 1])), [(3, 4)], {}),
            (
                lambda a: F.cross_entropy(a, _idx(a, [0, 3, 1]), weight=_fixed(a, (4,)), label_smoothing=0.1),
                [(3, 4)],
                {},
            ),
            (lambda a: F.cross_entropy(a, _probs(a, (3, 4))), [(3, 4)], {}),
        ],
        "F.dropout": [(_seeded_dropout, [(3, 4)], {})],
        "F.dropout2d": [(_seeded_dropout2d, [(2, 3, 2, 2)], {})],
        "F.embedding": [(lambda w: F.embedding(_idx(w, [[0, 2], [2, 2]]), w), [(3, 2)], {})],
        "F.fold": [(lambda x: F.fold(x, (3, 3), 2), [(1, 4, 4)], {})],
        "F.group_norm": [(lambda x, w, b: F.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)], {})],
        "F.huber_loss": [(lambda a, b: F.huber_loss(a, b, delta=0.5), [(2, 3), (2, 3)], {})],
        "F.interpolate": [
            (lambda x: F.interpolate(x, size=(3, 4), mode="bilinear"), [(1, 1, 2, 3)], {}),
            (lambda x: F.interpolate(x, scale_factor=2), [(1, 2, 3)], {}),
        ],
        "F.kl_div": [
            (lambda a: F.kl_div(tw.log_softmax(a, 1), _probs(a, (2, 3)), reduction="batchmean"), [(2, 3)], {})
        ],
        "F.l1_loss": [(lambda a, b: F.l1_loss(a, b), [(2, 3), (2, 3)], {})],
        "F.layer_norm": [(lambda x, w, b: F.layer_norm(x, (4,), w, b), [(2, 3, 4), (4,), (4,)], {})],
        "F.linear": [(lambda x, w, b: F.linear(x, w, b), [(2, 3), (4, 3), (4,)], {})],
        "F.max_pool1d": [(lambda x: F.max_pool1d(x, 2), [(1, 2, 5)], {})],
        "F.mse_loss": [(lambda a, b: F.mse_loss(a, b), [(2, 3), (2, 3)], {})],
        "F.nll_loss": [(lambda a: F.nll_loss(tw.log_softmax(a, 1), _idx(a, [2, 0])), [(2, 3)], {})],
        "F.normalize": [(lambda a: F.normalize(a, dim=1), [(2, 3)], {})],
        "F.pairwise_distance": [(lambda a, b: F.pairwise_distance(a, b), [(2, 3), (2, 3)], {})],
        "F.scaled_dot_product_attention": [
            (lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [(1, 2, 3), (1, 4, 3), (1, 4, 2)], {}),
            (
                lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                [(1, 3, 2), (1, 3, 2), (1, 3, 2)],
                {},
            ),
        ],
        "F.smooth_l1_loss": [(lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), [(2, 3), (2, 3)], {})],
        "F.softmin": [(lambda a: F.softmin(a, 1), [(2, 3)], {})],
        "F.unfold": [(lambda x: F.unfold(x, 2), [(1, 2, 3, 3)], {})],
    }
)

# the compositions that tw.nn.functional defines itself (tests/test_nn_second_order.py)
from test_nn_second_order import NN_SECOND_ORDER  # noqa: E402

SECOND_ORDER.update(NN_SECOND_ORDER)


def _cases():
    for name in sorted(SECOND_ORDER):
        for k, case in enumerate(SECOND_ORDER[name]):
            yield pytest.param(*case, id=f"{name}-{k}")


@pytest.mark.parametrize("fn, shapes, opts", list(_cases()))
def test_second_order(fn, shapes, opts, device):
    check_second_order(fn, shapes, device, **opts)


def test_check_second_order_catches_a_backward_that_is_not_differentiable(device):
    class DetachedCube(tw.autograd.Function):  # a right first derivative, built outside the graph
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return gy * (x * x * 3.0).detach()

    assert tw.autograd.gradcheck(DetachedCube.apply, t64([0.5, -1.0], device, True))
    with pytest.raises(AssertionError, match="Hessian-vector product"):
        check_second_order(DetachedCube.apply, [(2, 3)], device)


# -- grad() ---------------------------------------------------------------------------------------
def test_grad_returns_gradients_and_leaves_dot_grad_alone(device):
    x = t64([1.0, 2.0, 3.0], device, True)
    w = t64([0.5, -1.0, 2.0], device, True)
    gx, gw = grad((x * w).sum(), (x, w))
    np.testing.assert_allclose(to_numpy(gx), [0.5, -1.0, 2.0])
    np.testing.assert_allclose(to_numpy(gw), [1.0, 2.0, 3.0])
    assert gx.device == tw.device(device) and not gx.requires_grad
    assert x.grad is None and w.grad is None
    (g,) = grad((x * x).sum(), x)  # a single tensor works as inputs too
    np.testing.assert_allclose(to_numpy(g), [2.0, 4.0, 6.0])


def test_grad_of_non_leaf_inputs(device):
    x = t64([1.0, 2.0], device, True)
    h = x * 3.0  # non-leaf
    z = h * h + x
    gh, gx = grad(z.sum(), (h, x))
    np.testing.assert_allclose(to_numpy(gh), 2 * 3.0 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(to_numpy(gx), 2 * 9.0 * np.array([1.0, 2.0]) + 1.0)
    (gh,) = grad((h.exp()).sum(), h)  # only the graph above h runs
    np.testing.assert_allclose(to_numpy(gh), np.exp([3.0, 6.0]))


def test_grad_of_root_and_grad_outputs(device):
    x = t64([1.0, 2.0], device, True)
    y = x * 2.0
    (g,) = grad(y, y, grad_outputs=t64([3.0, 4.0], device))
    np.testing.assert_allclose(to_numpy(g), [3.0, 4.0])
    (g,) = grad(x, x, grad_outputs=t64([5.0, 6.0], device))
    np.testing.assert_allclose(to_numpy(g), [5.0, 6.0])
    a, b = x * 2.0, x * x  # several outputs sum their contributions
    (g,) = grad([a, b], x, grad_outputs=[t64([1.0, 1.0], device), t64([1.0, 2.0], device)])
    np.testing.assert_allclose(to_numpy(g), [2.0 + 2.0, 2.0 + 8.0])


def test_grad_unused_input_errors_name_it(device):
    x = t64([1.0, 2.0], device, True)
    unused = t64([[1.0, 2.0, 3.0]], device, True)
    with pytest.raises(RuntimeError, match=r"input 1, shape \(1, 3\)\) appears to not have been used"):
        grad((x * x).sum(), (x, unused))
    gx, gu = grad((x * x).sum(), (x, unused), allow_unused=True)
    assert gu is None and gx is not None
    gx, gu = grad((x * x).sum(), (x, unused), materialize_grads=True)
    np.testing.assert_array_equal(to_numpy(gu), np.zeros((1, 3)))


def test_grad_argument_errors(device):
    x = t64([1.0, 2.0], device, True)
    c = t64([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match=r"input 1, shape \(2,\)\) does not require grad"):
        grad((x * c).sum(), (x, c))
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        grad(c.sum(), x)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs; output 0 has shape \(2,\)"):
        grad(x * 2.0, x)
    with pytest.raises(RuntimeError, match=r"grad_outputs\[0\] has shape \(3,\)"):
        grad(x * 2.0, x, grad_outputs=t64([1.0, 1.0, 1.0], device))
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a Tensor"):
        grad(x.sum(), [1.0])


def test_grad_frees_the_graph_unless_retained(device):
    x = t64([1.0, 2.0], device, True)
    y = (x.exp() * x).sum()
    grad(y, x, retain_graph=True)
    (g,) = grad(y, x)
    np.testing.assert_allclose(to_numpy(g), np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        grad(y, x)


def test_grad_create_graph_third_derivative(device):
    x = t64([0.5, 1.5], device, True)
    y = (x**4).sum()
    (g1,) = grad(y, x, create_graph=True)
    assert g1.requires_grad and g1.grad_fn is not None
    (g2,) = grad(g1.sum(), x, create_graph=True)
    (g3,) = grad(g2.sum(), x)
    xs = np.array([0.5, 1.5])
    np.testing.assert_allclose(to_numpy(g1), 4 * xs**3)
    np.testing.assert_allclose(to_numpy(g2), 12 * xs**2)
    np.testing.assert_allclose(to_numpy(g3), 24 * xs)
    assert not g3.requires_grad


def test_backward_create_graph(device):
    x = t64([1.0, 2.0, 3.0], device, True)
    (x.exp() * x).sum().backward(create_graph=True)
    g = x.grad
    assert g.grad_fn is not None
    xs = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(to_numpy(g), np.exp(xs) * (1 + xs))
    (g2,) = grad(g.sum(), x)
    np.testing.assert_allclose(to_numpy(g2), np.exp(xs) * (2 + xs))


def test_functional_backward_with_inputs(device):
    x = t64([1.0, 2.0], device, True)
    w = t64([3.0, 4.0], device, True)
    h = x * w
    h.retain_grad()
    tw.autograd.backward((h * h).sum(), inputs=[w])
    np.testing.assert_allclose(to_numpy(w.grad), 2 * np.array([3.0, 4.0]) * np.array([1.0, 4.0]))
    assert x.grad is None and h.grad is None
    tw.autograd.backward([(x * 2.0).sum(), (x * 3.0).sum()])
    np.testing.assert_allclose(to_numpy(x.grad), [5.0, 5.0])


# -- higher-order gradients of a small network ------------------------------------------------------
def _tanh(z):
    return 1.0 - 2.0 / ((z * 2.0).exp() + 1.0)


def _mlp(params, x):
    w1, b1, w2, b2 = params
    return _tanh(x @ w1 + b1) @ w2 + b2


def _mlp_params(device, seed=0, requires_grad=True):
    rng = np.random.default_rng(seed)
    shapes = [(3, 5), (5,), (5, 2), (2,)]
    return [t64(rng.normal(0, 0.7, size=s), device, requires_grad) for s in shapes]


def test_hessian_vector_product_of_mlp_matches_finite_differences(device):
    rng = np.random.default_rng(1)
    x = t64(rng.normal(size=(4, 3)), device)
    target = t64(rng.normal(size=(4, 2)), device)
    params = _mlp_params(device)
    vs = [t64(rng.normal(size=p.shape), device) for p in params]

    def loss(ps):
        return ((_mlp(ps, x) - target) ** 2).mean() + (ps[0] * ps[0]).sum().log()

    gs = grad(loss(params), params, create_graph=True)
    dot = gs[0] * vs[0]
    dot = sum(((g * v).sum() for g, v in zip(gs[1:], vs[1:], strict=True)), dot.sum())
    hv = grad(dot, params)

    eps = 1e-5

    def shifted(sign):
        ps = [t64(to_numpy(p) + sign * eps * to_numpy(v), device, True) for p, v in zip(params, vs, strict=True)]
        return [to_numpy(g) for g in grad(loss(ps), ps)]

    plus, minus = shifted(1), shifted(-1)
    for i, h in enumerate(hv):
        np.testing.assert_allclose(
            to_numpy(h), (plus[i] - minus[i]) / (2 * eps), rtol=1e-6, atol=1e-9, err_msg=f"Hv {i}"
        )


def test_gradient_penalty_matches_finite_differences(device):
    rng = np.random.default_rng(2)
    xs = rng.normal(size=(3, 3))
    params = _mlp_params(device, seed=3)

    def penalty(ps, create_graph):
        x = t64(xs, device, True)
        (g,) = grad(_mlp(ps, x).sum(), x, create_graph=create_graph)
        return (g**2).sum()

    penalty(params, True).backward()
    x_probe = t64(xs, device, True)
    assert all(p.grad is not None for p in params[:3]) and x_probe.grad is None
    eps = 1e-6
    for i, p in enumerate(params):
        a = to_numpy(p)
        numeric = np.zeros_like(a)
        for j in range(a.size):
            vals = []
            for sign in (1, -1):
                b = a.copy()
                b.reshape(-1)[j] += sign * eps
                ps = [t64(b, device, True) if k == i else q for k, q in enumerate(params)]
                vals.append(penalty(ps, False).item())
            numeric.reshape(-1)[j] = (vals[0] - vals[1]) / (2 * eps)
        if i == 3:  # the output bias does not change d(out)/dx: its gradient is zero (None)
            assert p.grad is None or np.allclose(to_numpy(p.grad), 0.0)
            np.testing.assert_allclose(numeric, 0.0, atol=1e-8)
            continue
        np.testing.assert_allclose(to_numpy(p.grad), numeric, rtol=1e-6, atol=1e-9, err_msg=f"param {i}")


# -- custom Functions ---------------------------------------------------------------------------------
class ScaledCube(tw.autograd.Function):
    """k * x**3 with a non-Tensor argument k."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        ctx.seen_needs = ctx.needs_input_grad
        ctx.grad_enabled_in_forward = tw.is_grad_enabled()
        return x * x * x * k

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * x * x * (3.0 * ctx.k), None


class ExpSavingOutput(tw.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * y


class MulAndDiff(tw.autograd.Function):
    """Two outputs: x * y and x - y."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y, x - y

    @staticmethod
    def backward(ctx, g_prod, g_diff):
        x, y = ctx.saved_tensors
        return g_prod * y + g_diff, g_prod * x - g_diff


def test_custom_function_forward_backward(device):
    x = t64([1.0, -2.0], device, True)
    y = ScaledCube.apply(x, 2.0)
    assert y.grad_fn is not None and y.grad_fn.name == "ScaledCubeBackward"
    assert y.device == tw.device(device)
    np.testing.assert_allclose(to_numpy(y), 2.0 * np.array([1.0, -8.0]))
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), 6.0 * np.array([1.0, 4.0]))
    ctx = y.grad_fn  # freed after backward
    assert ctx.inputs is None
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_custom_function_ctx_needs_input_grad_and_no_grad_forward(device):
    x = t64([1.0, 2.0], device, True)
    c = t64([1.0, 2.0], device)
    captured = {}

    class Probe(tw.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            captured["needs"] = ctx.needs_input_grad
            captured["enabled"] = tw.is_grad_enabled()
            out = a * b * k
            captured["recorded"] = out.grad_fn is not None
            return out

        @staticmethod
        def backward(ctx, gy):
            captured["needs_bw"] = ctx.needs_input_grad
            return gy * 2.0, gy * 3.0, None

    y = Probe.apply(x, c, 4)
    assert captured == {"needs": (True, False, False), "enabled": False, "recorded": False}
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [2.0, 2.0])  # the user's gradient, not the true one
    assert c.grad is None
    with tw.no_grad():
        z = Probe.apply(x, c, 4)
    assert z.grad_fn is None and not z.requires_grad and captured["needs"] == (False, False, False)


def test_custom_function_second_order_and_gradcheck(device):
    x = t64([0.5, -1.5, 2.0], device, True)
    (g,) = grad(ScaledCube.apply(x, 2.0).sum(), x, create_graph=True)
    (h,) = grad(g.sum(), x)
    np.testing.assert_allclose(to_numpy(h), 12.0 * np.array([0.5, -1.5, 2.0]))
    assert tw.autograd.gradcheck(lambda a: ScaledCube.apply(a, 2.0), (x,))
    check_second_order(lambda a: ScaledCube.apply(a, 2.0), [(2, 3)], device)


def test_custom_function_saving_its_output(device):
    x = t64([0.0, 1.0], device, True)
    y = ExpSavingOutput.apply(x)
    node = y.grad_fn
    saved = node.ctx._saved[0]
    assert not isinstance(saved, tw.Tensor), "the output is saved as its array, not as the tensor (no cycle)"
    (g,) = grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(to_numpy(g), np.exp([0.0, 1.0]))
    (h,) = grad(g.sum(), x)  # second order flows through the rebuilt output
    np.testing.assert_allclose(to_numpy(h), np.exp([0.0, 1.0]))
    assert tw.autograd.gradcheck(ExpSavingOutput.apply, (x,))
    y = ExpSavingOutput.apply(x)  # a graph dropped without backward is freed by reference counting
    node = weakref.ref(y.grad_fn)
    del y
    assert node() is None


def test_custom_function_two_outputs(device):
    x = t64([1.0, 2.0], device, True)
    y = t64([3.0, 5.0], device, True)
    p, d = MulAndDiff.apply(x, y)
    assert p.grad_fn is not d.grad_fn
    (p * 2.0 + d * d).sum().backward()  # both nodes share ctx: freed only after the last one
    dx = 2.0 * np.array([3.0, 5.0]) + 2 * (np.array([1.0, 2.0]) - [3.0, 5.0])
    dy = 2.0 * np.array([1.0, 2.0]) - 2 * (np.array([1.0, 2.0]) - [3.0, 5.0])
    np.testing.assert_allclose(to_numpy(x.grad), dx)
    np.testing.assert_allclose(to_numpy(y.grad), dy)
    p, d = MulAndDiff.apply(x, y)
    (gx,) = grad(d.sum(), x)  # only one output used: the other's gradient is zeros
    np.testing.assert_allclose(to_numpy(gx), [1.0, 1.0])


def test_custom_function_with_integer_non_tensor_and_non_differentiable_outputs(device):
    class MaxAndCount(tw.autograd.Function):
        """(max of each row, its index, a Python count, a float flag marked non-differentiable)"""

        @staticmethod
        def forward(ctx, x):
            idx = tw.argmax(x, 1)
            ctx.save_for_backward(x, idx)
            flag = (x > 0).to(x.dtype)
            ctx.mark_non_differentiable(flag)
            return tw.amax(x, 1), idx, x.shape[1], flag

        @staticmethod
        def backward(ctx, g_max, g_idx, g_count, g_flag):
            x, idx = ctx.saved_tensors
            assert g_count is None and not g_idx.requires_grad
            onehot = (tw.arange(x.shape[1], device=x.device).reshape(1, -1) == idx.reshape(-1, 1)).to(x.dtype)
            return onehot * g_max.reshape(-1, 1) + g_flag.sum() * 0.0

    x = t64([[1.0, 3.0, 2.0], [-1.0, -4.0, -2.0]], device, True)
    m, idx, count, flag = MaxAndCount.apply(x)
    assert count == 3 and idx.dtype is tw.int64 and not idx.requires_grad
    assert not flag.requires_grad and m.requires_grad
    (m * t64([2.0, 5.0], device)).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [[0.0, 2.0, 0.0], [5.0, 0.0, 0.0]])


def test_custom_function_returning_an_input_and_gradient_checks(device):
    class Identity(tw.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a

        @staticmethod
        def backward(ctx, gy):
            return gy * 2.0

    x = t64([1.0, 2.0], device, True)
    y = Identity.apply(x)
    assert y is not x and x.grad_fn is None and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [2.0, 2.0])

    class WrongCount(tw.autograd.Function):
        @staticmethod
        def forward(ctx, a, k):
            return a * k

        @staticmethod
        def backward(ctx, gy):
            return gy

    with pytest.raises(
        RuntimeError, match=r"WrongCountBackward returned an incorrect number of gradients \(expected 2"
    ):
        WrongCount.apply(x, 2.0).sum().backward()

    class Expanded(tw.autograd.Function):  # a broadcast gradient sums back to the input's shape
        @staticmethod
        def forward(ctx, a):
            return a.sum()

        @staticmethod
        def backward(ctx, gy):
            return gy.reshape(1, 1).broadcast_to((3, 2))

    (g,) = grad(Expanded.apply(x), x)
    np.testing.assert_allclose(to_numpy(g), [3.0, 3.0])

    class BadShape(tw.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a.sum()

        @staticmethod
        def backward(ctx, gy):
            return gy.reshape(1).broadcast_to((3,))

    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0: got shape \(3,\) but expected shape \(2,\)"):
        grad(BadShape.apply(x), x)
    with pytest.raises(RuntimeError, match="not instantiated"):
        Identity()


# -- gradcheck ----------------------------------------------------------------------------------------
def test_gradcheck_passes_on_correct_gradients(device):
    _, (a, b) = make_inputs([(2, 3), (3, 2)], device, seed=4)
    assert tw.autograd.gradcheck(lambda x, y: (x @ y).exp(), (a, b))
    assert tw.autograd.gradcheck(lambda x, y: (x * y.T, x.sum()), (a, b))  # several outputs
    assert tw.autograd.gradcheck(lambda x, y: (x * 2.0, x.detach() * 0.0), (a, b))  # one constant, y unused
    assert not tw.autograd.gradcheck(lambda x: (x * 2.0, x.detach()), a, raise_exception=False)  # a cut graph
    f32 = tw.tensor([[0.5, 1.5]], device=device, requires_grad=True)  # float32 is checked in float64
    assert tw.autograd.gradcheck(lambda x: x.log() * 3.0, f32)


def test_gradcheck_reports_the_worst_element(device):
    class Wrong(tw.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y

        @staticmethod
        def backward(ctx, gy):
            x, y = ctx.saved_tensors
            wrong = tw.tensor([[1.0, 1.0], [1.0, 5.0]], dtype=tw.float64, device=gy.device)
            return gy * y, gy * x * wrong  # the gradient of y is wrong at element (1, 1)

    x = t64([[1.0, 2.0], [3.0, 4.0]], device, True)
    y = t64([[0.5, 0.5], [0.5, 0.5]], device, True)
    with pytest.raises(tw.autograd.GradcheckError, match=r"input 1, worst at input element \(1, 1\)") as e:
        tw.autograd.gradcheck(Wrong.apply, (x, y))
    assert "analytic 20 vs numerical 4" in str(e.value)
    assert tw.autograd.gradcheck(Wrong.apply, (x, y), raise_exception=False) is False
    y_const = t64([[0.5, 0.5], [0.5, 0.5]], device)  # only inputs that require grad are checked
    assert tw.autograd.gradcheck(Wrong.apply, (x, y_const))


def test_gradgradcheck(device):
    _, (a, b) = make_inputs([(2, 3), (3, 2)], device, seed=5)
    assert tw.autograd.gradgradcheck(lambda x, y: _tanh(x @ y), (a, b))
    go = t64([[1.0, -2.0], [0.5, 3.0]], device, True)
    assert tw.autograd.gradgradcheck(lambda x, y: (x @ y).exp(), (a, b), grad_outputs=go)

    class DetachedSquare(tw.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return gy * (x * 2.0).detach()

    assert tw.autograd.gradcheck(DetachedSquare.apply, a)
    with pytest.raises(tw.autograd.GradcheckError, match="input 0"):
        tw.autograd.gradgradcheck(DetachedSquare.apply, a)


# -- hooks and retain_grad -------------------------------------------------------------------------------
def test_leaf_hook_sees_the_complete_gradient_once_and_can_replace_it(device):
    x = t64([1.0, 2.0], device, True)
    seen = []
    x.register_hook(lambda g: seen.append(to_numpy(g)))
    (x * x + x * 3.0).sum().backward()  # x reaches the loss along three paths
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], 2 * np.array([1.0, 2.0]) + 3.0)
    x.grad = None
    h = x.register_hook(lambda g: g * 10.0)
    (x * 2.0).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [20.0, 20.0])
    h.remove()
    x.grad = None
    (x * 2.0).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [2.0, 2.0])
    assert len(seen) == 3


def test_non_leaf_hook_replaces_the_gradient_flowing_down(device):
    x = t64([1.0, 2.0], device, True)
    y = x * 2.0
    calls = []

    def hook(g):
        calls.append(to_numpy(g))
        return g * 0.5

    handle = y.register_hook(hook)
    (y * y).sum().backward(retain_graph=True)
    np.testing.assert_allclose(calls[0], 2 * np.array([2.0, 4.0]))
    np.testing.assert_allclose(to_numpy(x.grad), 0.5 * 2 * np.array([2.0, 4.0]) * 2.0)
    handle.remove()
    handle.remove()  # idempotent
    x.grad = None
    (y * y).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), 2 * np.array([2.0, 4.0]) * 2.0)
    assert len(calls) == 1


def test_grad_runs_only_the_hooks_on_its_path(device):
    x = t64([1.0, 2.0], device, True)
    w = t64([3.0, 4.0], device, True)
    calls = []
    x.register_hook(lambda g: calls.append("x") or g * 2.0)
    w.register_hook(lambda g: calls.append("w"))
    (gx,) = grad((x * w).sum(), x)
    assert calls == ["x"] and w.grad is None and x.grad is None
    np.testing.assert_allclose(to_numpy(gx), [6.0, 8.0])  # hooks apply to grad() results too


def test_hook_on_a_dropped_intermediate_still_runs(device):
    x = t64([1.0, 2.0], device, True)
    w = t64([3.0, 4.0], device, True)
    seen = []

    def forward(x):
        h = x * 2.0  # only the graph keeps h: it is freed with h * w's node during backward
        h.register_hook(lambda g: seen.append(to_numpy(g)) or g * 10.0)
        return (h * w).sum()

    forward(x).backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [3.0, 4.0])
    np.testing.assert_allclose(to_numpy(x.grad), [60.0, 80.0])

    def forward_shape_only(x):  # consumed only by ops whose graph keeps no values (+, sum)
        h = x * 2.0
        h.register_hook(lambda g: seen.append(to_numpy(g)) or g * 10.0)
        r = x * 1.0
        r.retain_grad()
        return (h + w).sum() + r.sum(), r

    x.grad = None
    loss, r = forward_shape_only(x)
    loss.backward()
    assert len(seen) == 2
    np.testing.assert_allclose(to_numpy(x.grad), [21.0, 21.0])
    np.testing.assert_allclose(to_numpy(r.grad), [1.0, 1.0])
    (g,) = grad(forward_shape_only(x)[0], x)
    assert len(seen) == 3
    np.testing.assert_allclose(to_numpy(g), [21.0, 21.0])


@pytest.mark.parametrize("create_graph", [False, True])
def test_hook_registered_after_a_shape_only_op_consumed_the_tensor_still_runs(create_graph, device):
    # h is large enough that the add's graph keeps only an edge to h's node, not h itself; the hook
    # is registered after that, and h is dropped before backward: the node still runs the hook.
    from tensorweaver.autograd.function import EDGE_MIN_SIZE

    n = EDGE_MIN_SIZE
    x = tw.tensor(np.ones(n), device=device, requires_grad=True)
    h = x * 2.0
    loss = (h + 1.0).sum()
    seen = []
    handle = h.register_hook(lambda g: seen.append(float(g.sum().item())) or g * 3.0)
    removed = h.register_hook(lambda g: g * 100.0)
    removed.remove()
    del h
    loss.backward(create_graph=create_graph)
    assert seen == [float(n)]
    np.testing.assert_allclose(to_numpy(x.grad), np.full(n, 6.0))
    handle.remove()


def test_hooks_run_in_order_and_with_grad(device):
    x = t64([1.0], device, True)
    y = x * 3.0
    y.register_hook(lambda g: g + 1.0)
    y.register_hook(lambda g: g * 2.0)
    (g,) = grad(y.sum(), x)
    np.testing.assert_allclose(to_numpy(g), [(1.0 + 1.0) * 2.0 * 3.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        t64([1.0], device).register_hook(lambda g: g)


def test_retain_grad_accumulates_and_sees_hooks(device):
    x = t64([1.0, 2.0], device, True)
    y = x * x
    y.retain_grad()
    assert y.retains_grad and not x.retains_grad
    x.retain_grad()  # a no-op on leaves
    z = (y * 3.0).sum()
    z.backward(retain_graph=True)
    np.testing.assert_allclose(to_numpy(y.grad), [3.0, 3.0])
    z.backward()
    np.testing.assert_allclose(to_numpy(y.grad), [6.0, 6.0])  # accumulated
    np.testing.assert_allclose(to_numpy(x.grad), 2 * 3.0 * 2 * np.array([1.0, 2.0]))

    a = x * 1.0
    a.retain_grad()
    a.register_hook(lambda g: g * 4.0)  # the retained gradient is the one after the hooks
    (a * 2.0).sum().backward()
    np.testing.assert_allclose(to_numpy(a.grad), [8.0, 8.0])


def test_retain_grad_does_not_share_memory_with_other_grads(device):
    x = t64([1.0, 2.0], device, True)
    w = t64([3.0, 4.0], device, True)
    s = x + w
    s.retain_grad()
    s.sum().backward()
    with tw.no_grad():
        s.grad.mul_(0.0)
        x.grad.add_(1.0)
    np.testing.assert_allclose(to_numpy(w.grad), [1.0, 1.0])
    np.testing.assert_allclose(to_numpy(x.grad), [2.0, 2.0])


def test_retain_grad_with_create_graph_keeps_the_graph(device):
    x = t64([1.0, 2.0], device, True)
    y = x * x
    y.retain_grad()
    (y * y).sum().backward(create_graph=True)
    assert y.grad.requires_grad
    (g,) = grad(y.grad.sum(), x)
    np.testing.assert_allclose(to_numpy(g), 2 * 2 * np.array([1.0, 2.0]))


# -- anomaly mode ---------------------------------------------------------------------------------------
def test_detect_anomaly_names_the_op_and_where_it_was_created(device):
    x = t64([0.0, 1.0], device, True)
    with tw.autograd.detect_anomaly(), np.errstate(divide="ignore", invalid="ignore"):
        assert tw.autograd.is_anomaly_enabled()
        y = x.log()  # the op that will return nan (0 / 0) in backward
        loss = (y * t64([0.0, 1.0], device)).sum()
        with pytest.raises(RuntimeError, match="LogBackward returned nan in its 0th output") as e:
            loss.backward()
    assert not tw.autograd.is_anomaly_enabled()
    msg = str(e.value)
    assert "test_autograd_api.py" in msg and "y = x.log()" in msg, msg

    x.grad = None
    with np.errstate(divide="ignore", invalid="ignore"):
        y = x.log()  # outside anomaly mode: no check, the nan reaches .grad
        (y * t64([0.0, 1.0], device)).sum().backward()
    assert np.isnan(to_numpy(x.grad)[0])


def test_detect_anomaly_inf_decorator_and_custom_function(device):
    class Blow(tw.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1.0

        @staticmethod
        def backward(ctx, gy):
            return gy / 0.0

    @tw.autograd.detect_anomaly()
    def run():
        x = t64([1.0], device, True)
        Blow.apply(x).sum().backward()

    with (
        pytest.raises(RuntimeError, match="BlowBackward returned inf in its 0th output") as e,
        np.errstate(divide="ignore"),
    ):
        run()
    assert "Blow.apply(x)" in str(e.value)
    with tw.autograd.set_detect_anomaly(True, check_nan=False), np.errstate(divide="ignore"):
        x = t64([1.0], device, True)
        Blow.apply(x).sum().backward()  # nan/inf checks off
        assert np.isinf(to_numpy(x.grad)[0])
    assert not tw.autograd.is_anomaly_enabled()


def test_detect_anomaly_adds_the_creation_site_to_backward_errors(device):
    class Broken(tw.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1.0

        @staticmethod
        def backward(ctx, gy):
            raise ValueError("broken backward")

    x = t64([1.0], device, True)
    with tw.autograd.detect_anomaly():
        y = Broken.apply(x)
        with pytest.raises(ValueError, match="broken backward") as e:
            y.sum().backward()
    notes = "".join(getattr(e.value, "__notes__", []))
    if hasattr(e.value, "add_note"):
        assert "BrokenBackward" in notes and "y = Broken.apply(x)" in notes
