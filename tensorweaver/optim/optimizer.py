"""Optimizer: parameter groups, per-parameter state, ``step``, ``zero_grad`` and PyTorch-layout state dicts."""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .. import _dtypes, ops
from ..autograd.function import bump
from ..autograd.grad_mode import enable_grad, no_grad
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of the optimizers: holds ``param_groups`` (a list of dicts, each with its
    ``params`` and its options, missing options filled in from ``defaults``) and ``state`` (a dict
    from each parameter to its own state, created at its first ``step()``).

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs (``model.named_parameters()``)
    or of dicts, each a parameter group: ``{"params": [...], "lr": 0.1, ...}``. Parameters are leaf
    tensors; generators are accepted and read once.

    Subclasses of tensorweaver's optimizers update every parameter in place through Tensor ops
    under ``tw.no_grad()``; their state tensors live on the parameter's device (moved there at the
    next ``step()`` when the parameter was moved) and step counts are host numbers, so a step makes
    no host<->device copy. A user's own subclass may override ``step(closure=None)`` as in PyTorch.
    """

    #: state keys held as host numbers (written as CPU tensors by ``state_dict()``, as PyTorch has
    #: them) and how each is read back by ``load_state_dict()``
    _host_state: dict[str, Callable[[Any], Any]] = {}
    #: state keys whose tensors have the parameter's shape (checked by ``load_state_dict()``)
    _param_state: tuple[str, ...] = ()

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self._check_options(defaults)
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + _typename(params)
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE)
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- options ------------------------------------------------------------------------------
    def _check_options(self, options: dict[str, Any]) -> None:
        """Raise ValueError for an invalid option (the defaults, then every group); subclasses check theirs."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (``{"params": [...], "lr": ...}``); options it
        does not give are taken from ``defaults``. The caller's dict is copied, not kept."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {_typename(param_group)}")
        if "params" not in param_group:
            raise KeyError(f"param_group must have a 'params' entry, got keys {sorted(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):
                if len(p) != 2 or not isinstance(p[0], str):
                    raise TypeError(f"a named parameter must be a (name, tensor) pair, got a tuple of length {len(p)}")
                names.append(p[0])
                p = p[1]
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(p))
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
            tensors.append(p)
        if names and len(names) != len(tensors):
            raise ValueError("all optimizer params should be with/without names. Some param names are missing")
        group["params"] = tensors
        if names:
            group["param_names"] = names
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_options(group)

        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        seen: set[int] = set()
        for other in self.param_groups:
            seen.update(id(p) for p in other["params"])
            if ("param_names" in group) != ("param_names" in other):
                how = "with names" if "param_names" in group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {how} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # -- the step -----------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (parameters whose ``.grad`` is None are
        skipped). ``closure``, when given, re-evaluates the model and returns the loss: it is called
        first, with grad mode on, and its loss is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        """Update the parameters of one group (tensorweaver's optimizers implement this)."""
        raise TypeError(f"{type(self).__name__} must override step(closure=None) (or _update_group)")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The state of a parameter before its first update (empty by default)."""
        return {}

    def _with_grads(self, group: dict[str, Any]):
        """Yield ``(param, grad, state)`` for each parameter of ``group`` that has a gradient, its state
        created at first use and moved to the parameter's device when the parameter has moved."""
        states = self.state
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = states.get(p)
            if state is None:
                state = self._init_state(p, group)
                if state:  # NOTE: SGD without momentum keeps no state, as in PyTorch's state_dict
                    states[p] = state
            else:
                b = p._backend
                for key, value in state.items():
                    # the parameter was moved (nn.Module.to moves it in place): its state follows,
                    # one explicit copy per tensor, once
                    if isinstance(value, Tensor) and value._backend is not b:
                        state[key] = value.to(p.device)
            yield p, grad, state

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:  # a gradient made with create_graph=True
                        p.grad = p.grad.detach()
                    with no_grad():
                        p.grad.zero_()

    # -- state dicts --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout: ``{"state": {index: {...}}, "param_groups":
        [{options..., "params": [indices]}]}``, parameters numbered in group order.

        State tensors are the optimizer's own (not copies: save them before the next step); step
        counts are CPU tensors, as in PyTorch.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        scalar = _dtypes.float64 if _dtypes.get_default_dtype() is _dtypes.float64 else _dtypes.float32
        state: dict[Any, dict[str, Any]] = {}
        for p, s in self.state.items():
            key = index.get(id(p), p) if isinstance(p, Tensor) else p
            state[key] = {k: self._host_to_tensor(k, v, scalar) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def _host_to_tensor(self, key: str, value: Any, scalar: _dtypes.dtype) -> Any:
        if key not in self._host_state or isinstance(value, Tensor):
            return value
        # NOTE: PyTorch keeps `step` in the default float dtype (exact for counts below 2**24);
        # other host numbers (NAdam's mu_product) are float64 so that a round trip is exact
        return Tensor(value, dtype=scalar if key == "step" else _dtypes.float64)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict from ``state_dict()`` (this library's or PyTorch's, its tensors made
        tensorweaver tensors). Groups are matched in order and must have the same number of
        parameters; state tensors are copied to their parameter's device (and floating dtype);
        PyTorch's implementation switches (``foreach``, ``fused``, ...) are dropped.
        Everything is checked before anything changes."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            got = sorted(state_dict) if isinstance(state_dict, dict) else _typename(state_dict)
            raise ValueError(f"an optimizer state dict has 'state' and 'param_groups', got {got}")
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}, the optimizer has {len(groups)})"
            )
        for i, (g, s) in enumerate(zip(groups, saved_groups, strict=True)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group "
                    f"(group {i}: {len(s['params'])} parameters saved, {len(g['params'])} in the optimizer)"
                )
        id_map: dict[Any, Tensor] = {}
        for g, s in zip(groups, saved_groups, strict=True):
            id_map.update(zip(s["params"], g["params"], strict=True))

        new_groups = []
        for g, s in zip(groups, saved_groups, strict=True):
            ng = copy.deepcopy({k: v for k, v in s.items() if k != "params" and k not in _TORCH_SWITCHES})
            for name, default in self.defaults.items():
                ng.setdefault(name, default)
            self._fix_loaded_group(ng)
            self._check_options(ng)
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            new_groups.append(ng)

        new_state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, saved in state_dict["state"].items():
            p = id_map.get(k)
            if p is None and isinstance(k, str) and k.isdigit():
                p = id_map.get(int(k))  # NOTE: a JSON round trip makes the int keys strings
            if p is None:
                new_state[k] = copy.deepcopy(saved)  # as PyTorch: state of no parameter is kept as it is
                continue
            new_state[p] = {key: self._load_value(k, key, v, p) for key, v in saved.items()}

        self.param_groups = new_groups
        self.state = new_state

    def _fix_loaded_group(self, group: dict[str, Any]) -> None:
        """Adjust a loaded group's options before they are checked (AdamW forces decoupled decay)."""

    def _load_value(self, index: Any, key: str, value: Any, p: Tensor) -> Any:
        where = f"state[{index!r}][{key!r}]"
        if key in self._host_state:
            if isinstance(value, Tensor):
                if value.numel() != 1:
                    raise ValueError(f"{where} must hold one number, got a tensor of shape {value.shape}")
                value = value.item()  # an explicit host read, at load time only
            elif not isinstance(value, (int, float)):
                raise TypeError(f"{where} must be a number or a tensor, got {_typename(value)}")
            return self._host_state[key](value)
        if isinstance(value, Tensor):
            if key in self._param_state and value.shape != p.shape:
                raise ValueError(f"{where} has shape {value.shape}, but its parameter has shape {p.shape}")
            out = value.to(device=p.device, dtype=p.dtype) if p.is_floating_point() else value.to(p.device)
            return ops.clone(out.detach()) if out is value else out.detach()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if hasattr(value, "__array__") or hasattr(value, "__dlpack__"):
            raise TypeError(f"{where} is a {_typename(value)}; make it a tensorweaver tensor first (tw.tensor(...))")
        return copy.deepcopy(value)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            text += "".join(f"    {key}: {group[key]}\n" for key in sorted(group) if key != "params")
        return text + ")"


#: PyTorch's implementation switches, found in its state dicts; they mean nothing here and are dropped
_TORCH_SWITCHES = frozenset({"foreach", "fused", "capturable", "differentiable"})

_SET_MESSAGE = (
    "optimizer parameters need to be organized in ordered collections, but the ordering of tensors in sets "
    "will change between runs. Please use a list instead."
)


def _typename(x: Any) -> str:
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def check_nonnegative(options: dict[str, Any], key: str, what: str) -> None:
    """PyTorch's argument check: ``ValueError("Invalid <what> value: <v>")`` unless ``0 <= options[key]``."""
    value = options[key]
    if isinstance(value, Tensor):
        raise TypeError(f"{key} must be a Python number, got a Tensor")
    if not 0.0 <= value:
        raise ValueError(f"Invalid {what}: {value}")


def check_lr_eps(options: dict[str, Any]) -> None:
    """The checks every optimizer makes of ``lr`` (and ``eps`` when it has one)."""
    check_nonnegative(options, "lr", "learning rate")
    if "eps" in options:
        check_nonnegative(options, "eps", "epsilon value")


def check_betas(options: dict[str, Any]) -> None:
    """``betas`` is a pair of numbers in [0, 1)."""
    betas = options["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair of numbers, got {betas!r}")
    for i, beta in enumerate(betas):
        if isinstance(beta, Tensor):
            raise TypeError(f"betas[{i}] must be a Python number, got a Tensor")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def lerp_(t: Tensor, end: Tensor, weight: float) -> Tensor:
    """``t += weight * (end - t)`` in place (PyTorch's ``lerp_``), as ``t = (1 - weight) t + weight end``.

    NOTE: this form reads one array fewer than ``end - t`` does (measured: the Adam step is memory
    bound); the two differ by rounding only. On the arrays, one version bump, as the optimizers'
    updates (adam.py tells why): ``t`` is optimizer state, made with ``end``'s dtype, shape and device.
    """
    a = t._data
    a *= 1 - weight
    a += end._data * weight
    bump(t)
    return t
