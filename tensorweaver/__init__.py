"""tensorweaver: PyTorch-style tensors and autograd on NumPy (CPU), CuPy (CUDA) or any array-API library.

import tensorweaver as tw
w = tw.tensor([[0.5]], requires_grad=True)
loss = ((tw.tensor([[1.0], [2.0]]) @ w.T - 3.0) ** 2).mean()
loss.backward()
"""

from typing import TYPE_CHECKING

from . import backends, cuda
from ._dtypes import (
    bool,
    complex64,
    complex128,
    dtype,
    float16,
    float32,
    finfo,
    float64,
    get_default_dtype,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from . import autograd
from .autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .backends import device, get_default_device, set_default_device
from .factories import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    zeros,
    zeros_like,
)
from . import random
from .random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    seed,
    set_rng_state,
)
from . import return_types
from .size import Size
from .tensor import Tensor, allclose, equal, is_complex, is_floating_point, is_tensor, numel, tensor
from .ops import *  # noqa: F403 - every op's public function, listed in its module's __all__
from . import ops
from . import _errors as errors
from .compile import compile  # noqa: A004 - PyTorch's name (the subpackage stays tensorweaver.compile)

float = float32  # noqa: A001 - PyTorch's aliases
double = float64
long = int64

__version__ = "0.1.0"

__all__ = [
    "compile",
    "Tensor",
    "tensor",
    "Size",
    "return_types",
    "is_tensor",
    "numel",
    "is_floating_point",
    "is_complex",
    "allclose",
    "equal",
    "as_tensor",
    "set_default_device",
    "get_default_device",
    "inference_mode",
    "is_inference_mode_enabled",
    "device",
    "dtype",
    "backends",
    "cuda",
    "autograd",
    "nn",
    "optim",
    "utils",
    "errors",
    "distributed",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "float",
    "double",
    "long",
    "get_default_dtype",
    "finfo",
    "iinfo",
    "set_default_dtype",
    "promote_types",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
    "rand_like",
    "randn_like",
    "randint_like",
    "randperm",
    "from_numpy",
    "from_dlpack",
    "random",
    "Generator",
    "default_generator",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "multinomial",
    "normal",
    "bernoulli",
    "save",
    "load",
]
__all__ += ops.__all__


# NOTE: nn, optim, utils, distributed and save/load load on first use (PEP 562): `import
# tensorweaver` stays within 2x `import numpy` (benchmarks, workload 5); `tw.nn`,
# `from tensorweaver import nn` and `import tensorweaver.nn` all work as before.
_LAZY = {
    "nn": ("nn", None),
    "optim": ("optim", None),
    "utils": ("utils", None),
    "distributed": ("distributed", None),
    "save": ("serialization", "save"),
    "load": ("serialization", "load"),
}

if TYPE_CHECKING:
    from . import distributed, nn, optim, utils
    from .serialization import load, save


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'tensorweaver' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - on first use only

    module, attr = _LAZY[name]
    value = importlib.import_module(f".{module}", __name__)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
