"""The functional ops that tw.nn adds (compositions of public ops): forward against PyTorch and
gradients against central finite differences, on both engine paths, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import tensorweaver as tw
from helpers import check_op

torch = pytest.importorskip("torch")
F = tw.nn.functional
TF = torch.nn.functional


def _torch(fn):
    """A NumPy function from a PyTorch one (float64 in, float64 out)."""
    return lambda *arrays: fn(*[torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]).numpy()


UNARY = [
    ("hardtanh", lambda x: F.hardtanh(x, -0.7, 0.9), lambda x: TF.hardtanh(x, -0.7, 0.9)),
    ("relu6", lambda x: F.relu6(x * 4), lambda x: TF.relu6(x * 4)),
    ("hardsigmoid", lambda x: F.hardsigmoid(x * 2), lambda x: TF.hardsigmoid(x * 2)),
    ("hardswish", lambda x: F.hardswish(x * 2), lambda x: TF.hardswish(x * 2)),
    ("mish", F.mish, TF.mish),
    ("selu", F.selu, TF.selu),
    ("celu", lambda x: F.celu(x, 0.6), lambda x: TF.celu(x, 0.6)),
    ("softsign", F.softsign, TF.softsign),
    ("tanhshrink", F.tanhshrink, TF.tanhshrink),
    ("threshold", lambda x: F.threshold(x, 0.3, -1.0), lambda x: TF.threshold(x, 0.3, -1.0)),
    ("hardshrink", lambda x: F.hardshrink(x, 0.4), lambda x: TF.hardshrink(x, 0.4)),
    ("softshrink", lambda x: F.softshrink(x, 0.4), lambda x: TF.softshrink(x, 0.4)),
    ("glu", lambda x: F.glu(x, 0), lambda x: TF.glu(x, 0)),
    ("rms_norm", lambda x: F.rms_norm(x, (3,)), lambda x: TF.rms_norm(x, (3,))),
    ("adaptive_avg_pool1d", lambda x: F.adaptive_avg_pool1d(x, 2), lambda x: TF.adaptive_avg_pool1d(x, 2)),
]


@pytest.mark.parametrize("fn, tfn", [c[1:] for c in UNARY], ids=[c[0] for c in UNARY])
def test_unary_composition(fn, tfn, device):
    # NOTE: values near the kinks (|x| = 0.4, 0.7, ...) would make finite differences meaningless;
    # the fixed seeds of check_op keep them away
    check_op(fn, _torch(tfn), [((4, 2, 3),)], device)


def test_prelu(device):
    check_op(F.prelu, _torch(TF.prelu), [((2, 3, 4), (3,)), ((5, 2), (1,))], device)


def test_bilinear(device):
    check_op(F.bilinear, _torch(TF.bilinear), [((2, 3), (2, 4), (5, 3, 4), (5,))], device)


CONV_T = [
    ("stride_pad", dict(stride=2, padding=1, output_padding=1), (1, 2, 3, 3), (2, 3, 3, 3)),
    ("groups_dilation", dict(groups=2, dilation=2, padding=1), (1, 4, 3, 2), (4, 1, 2, 2)),
    ("output_padding_past_padding", dict(stride=3, padding=0, output_padding=2), (1, 1, 2, 2), (1, 2, 2, 2)),
]


@pytest.mark.parametrize("kw, xs, ws", [c[1:] for c in CONV_T], ids=[c[0] for c in CONV_T])
def test_conv_transpose2d(kw, xs, ws, device):
    bs = (ws[1] * kw.get("groups", 1),)
    check_op(
        lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
        _torch(lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw)),
        [(xs, ws, bs)],
        device,
    )


def test_conv_transpose1d(device):
    kw = dict(stride=2, padding=1, output_padding=1)
    check_op(
        lambda x, w: F.conv_transpose1d(x, w, **kw),
        _torch(lambda x, w: TF.conv_transpose1d(x, w, **kw)),
        [((2, 2, 4), (2, 3, 3))],
        device,
    )


def test_multi_head_attention_forward(device):
    E, H = 2, 2

    def ours(q, k, v, w, b, ow, ob):
        return F.multi_head_attention_forward(q, k, v, E, H, w, b, None, None, False, 0.0, ow, ob)[0]

    def theirs(q, k, v, w, b, ow, ob):
        return TF.multi_head_attention_forward(q, k, v, E, H, w, b, None, None, False, 0.0, ow, ob)[0]

    check_op(ours, _torch(theirs), [((2, 1, E), (3, 1, E), (3, 1, E), (3 * E, E), (3 * E,), (E, E), (E,))], device)


def test_composition_errors():
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is size 3"):
        F.glu(tw.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(tw.zeros(1, 1, 2, 2), tw.zeros(1, 1, 2, 2), output_padding=1)
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        F.prelu(tw.zeros(2, 3), tw.zeros(2))
