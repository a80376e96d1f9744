"""``tw.nn.functional``: the stateless neural-network ops under PyTorch's ``F.*`` names.

Everything here is an op from ``tensorweaver.ops``; this module only gives it its PyTorch home.
"""

from __future__ import annotations

from .. import ops as _ops
from ..ops.nn import (
    avg_pool2d,
    conv1d,
    conv2d,
    cross_entropy,
    dropout,
    embedding,
    linear,
    log_softmax,
    max_pool2d,
    mse_loss,
    nll_loss,
    one_hot,
    softmax,
)

__all__ = [
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "softmax",
]

# Ops written in other op modules that PyTorch also exposes as F.*; taken from tw.ops when present.
_ELSEWHERE = ("pad", "relu", "gelu", "silu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "logsigmoid")
for _name in _ELSEWHERE:
    if hasattr(_ops, _name):
        globals()[_name] = getattr(_ops, _name)
        __all__.append(_name)
del _name
