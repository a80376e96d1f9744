"""The layers of ``tw.nn``, grouped by topic; every public name is re-exported by ``tw.nn``."""

from .activation import *  # noqa: F403
from .activation import __all__ as _activation
from .container import *  # noqa: F403
from .container import __all__ as _container
from .conv import *  # noqa: F403
from .conv import __all__ as _conv
from .linear import *  # noqa: F403
from .linear import __all__ as _linear
from .loss import *  # noqa: F403
from .loss import __all__ as _loss
from .module import Module, RemovableHandle
from .normalization import *  # noqa: F403
from .normalization import __all__ as _normalization
from .pooling import *  # noqa: F403
from .pooling import __all__ as _pooling
from .rnn import *  # noqa: F403
from .rnn import RNNBase, RNNCellBase
from .rnn import __all__ as _rnn
from .transformer import *  # noqa: F403
from .transformer import __all__ as _transformer

__all__ = [
    "Module",
    "RemovableHandle",
    "RNNBase",
    "RNNCellBase",
    *_activation,
    *_container,
    *_conv,
    *_linear,
    *_loss,
    *_normalization,
    *_pooling,
    *_rnn,
    *_transformer,
]
