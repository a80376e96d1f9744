"""``gradcheck`` and ``gradgradcheck``: analytic first and second derivatives against central
finite differences in float64."""

from __future__ import annotations

from .. import _dtypes
from ..tensor import Tensor
from .api import grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """The analytic and numerical Jacobians of a function differ (the message names the worst element)."""


def _outputs(result) -> list:
    outs = [result] if isinstance(result, Tensor) else list(result)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _flat(t: Tensor, dtype):
    xp = t._backend.xp
    return xp.reshape(xp.astype(t._data, dtype), (-1,))


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True):
    """Check the gradients of ``fn(*inputs)`` against central differences: True, or a readable failure.

    Floating-point inputs are copied to float64 (those with ``requires_grad`` are checked); every
    floating-point output is differentiated, one output element at a time. On a mismatch it raises
    ``GradcheckError`` naming the worst element (input, element, analytic and numerical value), or
    returns False when ``raise_exception=False``.
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    xs = []
    for a in inputs:
        if isinstance(a, Tensor) and a.dtype.kind == "f":
            b = a._backend
            data = b.xp.astype(a._data, b.native_dtype(_dtypes.float64), copy=True)
            a = Tensor._wrap(data, b).requires_grad_(a._requires_grad)
        xs.append(a)
    checked = [i for i, a in enumerate(xs) if isinstance(a, Tensor) and a._requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    outs = _outputs(fn(*xs))
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point tensor")
    b = outs[0]._backend
    xp, f64 = b.xp, b.native_dtype(_dtypes.float64)

    # analytic: one row of the Jacobian per output element, by backward of a one-hot grad_output
    rows = {i: [] for i in checked}
    for o in outs:
        n = o.numel()
        for k in range(n):
            onehot = xp.reshape(xp.astype(xp.arange(n, device=b.native_device) == k, o._data.dtype), o._data.shape)
            if o._requires_grad:
                gs = grad(o, [xs[i] for i in checked], Tensor._wrap(onehot, b), retain_graph=True, allow_unused=True)
            else:  # an output that does not depend on the inputs
                gs = [None] * len(checked)
            for i, g in zip(checked, gs, strict=True):
                x = xs[i]
                if g is not None and g.shape != x.shape:
                    return _fail(f"the gradient of input {i} has shape {g.shape}, expected {x.shape}", raise_exception)
                rows[i].append(
                    _flat(g, f64) if g is not None else xp.zeros(x.numel(), dtype=f64, device=b.native_device)
                )

    # numerical: one column per input element, from fn at x +- eps along that element
    for i in checked:
        x = xs[i]
        n = x.numel()
        if n == 0 or not rows[i]:
            continue
        analytic = xp.stack(rows[i], axis=0)  # (output elements, input elements)
        cols = []
        # NOTE: not under no_grad, so that fn may itself differentiate (gradcheck of a gradient)
        for j in range(n):
            step = xp.reshape(xp.astype(xp.arange(n, device=b.native_device) == j, f64), x._data.shape) * eps
            plus = _outputs(fn(*_replace(xs, i, _like(x, x._data + step))))
            minus = _outputs(fn(*_replace(xs, i, _like(x, x._data - step))))
            cols.append(
                xp.concat([(_flat(p, f64) - _flat(m, f64)) / (2 * eps) for p, m in zip(plus, minus, strict=True)])
            )
        numeric = xp.stack(cols, axis=1)
        excess = xp.abs(analytic - numeric) - (atol + rtol * xp.abs(numeric))
        # NOTE: reads one bool (and, on failure, a few numbers) from the device: gradcheck is a test tool.
        if bool(xp.any(excess > 0)):
            w = int(xp.argmax(xp.reshape(excess, (-1,))))
            r, c = divmod(w, n)
            a_val, n_val = float(analytic[r, c]), float(numeric[r, c])
            out_k, elem_k = _locate(outs, r)
            return _fail(
                f"Jacobian mismatch for output {out_k} with respect to input {i}, worst at input element "
                f"{_unravel(c, x.shape)} (output element {_unravel(elem_k, outs[out_k].shape)}): "
                f"analytic {a_val:.8g} vs numerical {n_val:.8g} (difference {abs(a_val - n_val):.3g}, "
                f"allowed atol={atol} + rtol={rtol} * |numerical|)",
                raise_exception,
            )
    return True


def gradgradcheck(
    fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception=True
):
    """Check the second derivatives of ``fn(*inputs)``: ``gradcheck`` of its vector-Jacobian product
    ``grad(fn(*inputs), inputs, grad_outputs, create_graph=True)`` with respect to the inputs and the
    ``grad_outputs`` (default: fixed values in [0.5, 1.5], one tensor per floating-point output)."""
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    if grad_outputs is None:
        outs = _outputs(fn(*inputs))
        grad_outputs = []
        for o in outs:
            b, n = o._backend, o.numel()
            ramp = b.xp.arange(n, dtype=o._data.dtype, device=b.native_device) / max(n, 1) + 0.5
            grad_outputs.append(Tensor._wrap(b.xp.reshape(ramp, o._data.shape), b).requires_grad_(True))
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    n_in = len(inputs)
    diff = [i for i, a in enumerate(inputs) if isinstance(a, Tensor) and a._requires_grad]

    def vjp(*args):
        xs, gos = args[:n_in], args[n_in:]
        outs = [o for o in _outputs(fn(*xs)) if o._requires_grad]
        gs = grad(outs, [xs[i] for i in diff], list(gos[: len(outs)]), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(vjp, (*inputs, *grad_outputs), eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)


def _like(x: Tensor, data) -> Tensor:
    """A new leaf holding ``data``, requiring grad like ``x``."""
    return Tensor._wrap(data, x._backend).requires_grad_(x._requires_grad)


def _replace(xs: list, i: int, t) -> list:
    return xs[:i] + [t] + xs[i + 1 :]


def _locate(outs: list, r: int):
    for k, o in enumerate(outs):
        if r < o.numel():
            return k, r
        r -= o.numel()
    raise IndexError(r)  # pragma: no cover


def _unravel(flat: int, shape) -> tuple:
    idx = []
    for s in reversed(shape):
        flat, r = divmod(flat, s)
        idx.append(r)
    return tuple(reversed(idx))


def _fail(msg: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError("gradcheck failed: " + msg)
    return False
