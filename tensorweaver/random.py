"""Random number generators: ``tw.Generator``, the default generator of each device, PyTorch's seeding
functions (``manual_seed``, ``seed``, ``initial_seed``, ``get_rng_state``) and the samplers that are
more than one draw (``multinomial``, ``normal``, ``bernoulli``).

Every random function takes ``generator=``: a ``tw.Generator`` on the device it draws on. Without one
it uses that device's default generator, which ``tw.manual_seed`` seeds on every device. Each draws
where its device is: NumPy's PCG64 on the CPU, CuPy's generator on the GPU; a registered array-API
backend draws with PCG64 on the host and copies (a counted transfer). The streams are not PyTorch's.
"""

from __future__ import annotations

from . import _dtypes
from . import backends as _backends
from .backends.base import Backend, GeneratorImpl, check_seed, fresh_seed
from .tensor import Tensor

__all__ = [
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
]

#: the initial seed of a new ``tw.Generator()``, as in PyTorch
DEFAULT_SEED = 67280421310721


class Generator:
    """A random number generator on one device: ``tw.Generator(device="cpu")``.

    Give it to any random function (``tw.rand(3, generator=g)``, ``DataLoader(..., generator=g)``) to
    draw from its own stream; the same seed gives the same numbers on every run. A new generator
    starts from the seed 67280421310721, as PyTorch's does. ``get_state()`` is a uint8 CPU tensor
    (45 bytes on the host: the initial seed, PCG64's state and increment, a cached half-word; on CUDA
    the seed and CuPy's cuRAND states) that ``set_state()`` restores on the same device type.
    """

    __slots__ = ("_impl",)

    def __init__(self, device="cpu") -> None:
        self._impl = GeneratorImpl(_backends.get_backend(device), DEFAULT_SEED)

    @classmethod
    def _of(cls, impl: GeneratorImpl) -> Generator:
        g = object.__new__(cls)
        g._impl = impl
        return g

    @property
    def device(self) -> _backends.device:
        """The device this generator draws on."""
        return self._impl.backend.device

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed`` (an int in [-2**63, 2**64)); returns this generator."""
        self._impl.manual_seed(check_seed(seed))
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy (nondeterministic) and return the new seed."""
        s = fresh_seed()
        self._impl.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed the stream started from (the last ``manual_seed`` / ``seed``, or the state's)."""
        return self._impl.initial_seed

    def get_state(self) -> Tensor:
        """The generator's whole state as a uint8 CPU tensor (see the class docstring for its layout)."""
        return Tensor._wrap(self._impl.get_state(), _backends.cpu)

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a state from ``get_state()`` of a generator on the same device type; returns self."""
        if not isinstance(new_state, Tensor) or new_state.dtype is not _dtypes.uint8:
            got = new_state.dtype if isinstance(new_state, Tensor) else type(new_state).__name__
            raise TypeError(f"RNG state must be a uint8 tensor (from Generator.get_state()), got {got}")
        self._impl.set_state(new_state.detach().to("cpu").numpy())
        return self

    def __repr__(self) -> str:
        return f"<tensorweaver.Generator on {self.device}, initial_seed={self.initial_seed()}>"

    def __reduce__(self):
        return _rebuild_generator, (str(self.device), self._impl.get_state().tobytes())


def _rebuild_generator(device: str, state: bytes) -> Generator:
    g = Generator(device)
    g._impl.set_state(state)
    return g


#: the CPU's default generator: what random functions on the CPU draw from without ``generator=``
default_generator = Generator._of(_backends.cpu.default_generator)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator of every device (made so far or later); returns the CPU's."""
    _backends.manual_seed(seed)
    return default_generator


def seed() -> int:
    """Seed every device's default generator from the operating system's entropy; returns the seed."""
    s = fresh_seed()
    _backends.manual_seed(s)
    return s


def initial_seed() -> int:
    """The initial seed of the CPU's default generator."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The state of the CPU's default generator (a uint8 tensor)."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the CPU's default generator from ``get_rng_state()``."""
    default_generator.set_state(new_state)


def generator_impl(generator: Generator | None, b: Backend) -> GeneratorImpl | None:
    """The stream to draw from on backend ``b``: ``generator``'s, or None for b's default one.

    A generator on another device is an error naming both (tensorweaver never draws on one device
    for another)."""
    if generator is None:
        return None
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a tw.Generator, got {type(generator).__name__}")
    impl = generator._impl
    if impl.backend is not b:
        raise RuntimeError(f"Expected a '{b.device}' device type for generator but found '{generator.device}'")
    return impl


# -- samplers --------------------------------------------------------------------------------------
def _float_work_dtype(b: Backend, d: _dtypes.dtype):
    # float64 where the backend has it: the sums and keys below lose nothing for float32 inputs
    return b.to_native.get(_dtypes.float64, b.native_dtype(d))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:  # noqa: A002
    """Indices drawn from the categories of each row of ``input`` (1-D or 2-D, non-negative weights,
    not necessarily normalized): shape ``(num_samples,)`` or ``(rows, num_samples)``, int64.

    With replacement the samples are independent, by inverse CDF: uniforms searched in the row's
    cumulative sum (``searchsorted``; the rows of a 2-D input are searched as one array, each shifted
    by its row number, which is exact to about ``rows * 2**-52``). Without replacement a row's
    categories come in the order of exponential races ``E / p`` (``E ~ Exp(1)``): Gumbel-top-k, the
    same distribution as drawing one at a time and removing it; zero-weight categories come last.

    NOTE: the checks that need the values (negative, inf or nan weights; a row summing to 0) run on
    the CPU only; on other devices they would cost a host sync, so invalid rows give unspecified
    indices there (PyTorch's CUDA kernel reports them only through a device-side assert).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial(): input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype}")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got shape {tuple(input.shape)}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int):
        raise TypeError(f"multinomial(): num_samples must be an int, got {type(num_samples).__name__}")
    n = input.shape[-1]
    if n == 0:
        raise RuntimeError(f"multinomial(): the distribution has no categories (input shape {tuple(input.shape)})")
    if num_samples <= 0:
        raise RuntimeError(f"cannot sample n_sample <= 0 samples (got num_samples={num_samples})")
    if not replacement and num_samples > n:
        raise RuntimeError(
            f"cannot sample n_sample > prob_dist.size(-1) samples without replacement "
            f"(num_samples={num_samples}, {n} categories)"
        )
    b = input._backend
    xp = b.xp
    g = generator_impl(generator, b)
    rows = input._data if input.ndim == 2 else xp.reshape(input._data, (1, n))
    m = rows.shape[0]
    if b is _backends.cpu:  # host values: the checks cost no copy
        if bool(xp.any(xp.logical_not(xp.isfinite(rows)) | (rows < 0))):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if bool(xp.any(xp.sum(rows, axis=-1) <= 0)):
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    wd = _float_work_dtype(b, input.dtype)
    wdt = b.from_native[wd]
    p = xp.astype(rows, wd)
    if m == 0:
        out = xp.zeros((0, num_samples), dtype=xp.int64, device=b.native_device)
    elif replacement:
        cdf = xp.cumulative_sum(p, axis=-1)
        cdf = cdf / cdf[:, -1:]  # the last entry is exactly 1, so u < 1 never runs past the row
        u = b.rand((m, num_samples), wdt, g)
        shift = xp.reshape(xp.arange(m, dtype=wd, device=b.native_device), (m, 1))
        pos = xp.searchsorted(xp.reshape(cdf + shift, (-1,)), xp.reshape(u + shift, (-1,)), side="right")
        first = xp.reshape(xp.arange(m, dtype=xp.int64, device=b.native_device) * n, (m, 1))
        out = xp.clip(xp.reshape(xp.astype(pos, xp.int64), (m, num_samples)) - first, 0, n - 1)
    else:
        e = -xp.log1p(-b.rand((m, n), wdt, g))  # Exp(1); finite since u < 1
        positive = p > 0
        keys = xp.where(positive, e / xp.where(positive, p, xp.ones_like(p)), xp.full_like(p, float("inf")))
        out = xp.astype(xp.argsort(keys, axis=-1, stable=True)[:, :num_samples], xp.int64)
    if input.ndim == 1:
        out = xp.reshape(out, (num_samples,))
    return Tensor._wrap(out, b)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Normal samples: ``normal(mean_tensor, std_tensor)`` (broadcast), ``normal(mean_tensor, 1.0)``,
    ``normal(0.0, std_tensor)`` or ``normal(0.0, 1.0, size)``.

    The result is a new leaf: PyTorch's gradient with respect to ``mean`` and ``std`` is zero, so it
    is not tracked here.
    """
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal(mean, std) with two numbers needs a size: normal(0.0, 1.0, (2, 3))")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        b = _backends.get_backend(device)
        d = _dtypes.get_default_dtype() if dtype is None else _dtypes.to_dtype(dtype)
        size = tuple(size)
        z = b.randn(size, d, generator_impl(generator, b))
        t = Tensor._wrap(z * std + mean, b)
        return t.requires_grad_(True) if requires_grad else t
    b = tensors[0]._backend
    for t in tensors[1:]:
        if t._backend is not b:
            raise RuntimeError(
                f"normal(): mean is on {tensors[0].device} and std on {t.device}; they must share a device"
            )
    xp = b.xp
    if isinstance(std, Tensor):
        if b is _backends.cpu and bool(xp.any(std._data < 0)):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    d = tensors[0].dtype if len(tensors) == 1 else _dtypes.promote_types(tensors[0].dtype, tensors[1].dtype)
    if d.kind != "f":
        raise RuntimeError(f"normal(): mean and std must be floating point, got {d}")
    shape = (
        tuple(xp.broadcast_arrays(*(t._data for t in tensors))[0].shape)
        if len(tensors) == 2
        else tuple(tensors[0].shape)
    )
    z = b.randn(shape, d, generator_impl(generator, b))
    return Tensor._wrap(xp.astype(z * s + m, b.native_dtype(d)), b)


def bernoulli(input: Tensor, p: float | None = None, *, generator=None) -> Tensor:  # noqa: A002
    """0/1 samples with ``input``'s shape and dtype: 1 with probability ``input`` (or ``p`` if given).

    NOTE: probabilities outside [0, 1] are an error on the CPU only (a host sync elsewhere).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"bernoulli(): input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"bernoulli(): input must be floating point (probabilities), got {input.dtype}")
    b = input._backend
    xp = b.xp
    if p is None:
        prob = input._data
        if b is _backends.cpu and bool(xp.any(xp.logical_not((prob >= 0) & (prob <= 1)))):
            raise RuntimeError("bernoulli(): all probabilities must be in [0, 1]")
    else:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli(): p must be in [0, 1], got {p}")
        prob = p
    u = b.rand(tuple(input.shape), input.dtype, generator_impl(generator, b))
    return Tensor._wrap(xp.astype(u < prob, input._data.dtype), b)
