"""``tw.nn.functional``: the stateless neural-network ops under PyTorch's ``F.*`` names.

Everything here is an op from ``tensorweaver.ops``; this module only gives it its PyTorch home.
"""

from __future__ import annotations

from ..ops.elementwise import elu, gelu, leaky_relu, logsigmoid, relu, sigmoid, silu, softplus, tanh
from ..ops.nn import (
    avg_pool2d,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    conv1d,
    conv2d,
    cross_entropy,
    dropout,
    embedding,
    huber_loss,
    kl_div,
    l1_loss,
    linear,
    log_softmax,
    max_pool2d,
    mse_loss,
    nll_loss,
    one_hot,
    smooth_l1_loss,
    softmax,
    softmin,
)
from ..ops.shape import pad

__all__ = [
    "avg_pool2d",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "pad",
    "relu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softmin",
    "softplus",
    "tanh",
]
