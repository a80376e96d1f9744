"""``Module``: the base of every layer; parameters, buffers and submodules registered by attribute
assignment, hooks, train/eval, moving between devices and dtypes in place, and state dicts."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ... import _dtypes
from ... import backends as _backends
from ...autograd import no_grad
from ...tensor import Tensor
from ...tensor import tensor as _tensor
from ..parameter import Buffer, Parameter

__all__ = ["Module", "RemovableHandle"]


def _typename(value) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _addindent(s: str, spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _swap_storage(t: Tensor, new: Tensor) -> None:
    """Make ``t`` hold ``new``'s array (and device): the same tensor object, new storage."""
    t._data, t._backend = new._data, new._backend


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``remove()`` unregisters the hook (also as a ``with`` block)."""

    _ids = itertools.count()

    def __init__(self, hooks: dict, extra: set | None = None) -> None:
        self.id = next(RemovableHandle._ids)
        self._hooks, self._extra = hooks, extra

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        self._hooks.pop(self.id, None)
        if self._extra is not None:
            self._extra.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class _Keys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class _IncompatibleKeys(_Keys):
    """What ``load_state_dict`` returns: ``(missing_keys, unexpected_keys)``."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"

    __str__ = __repr__


def _forward_unimplemented(self, *args: Any) -> Any:
    """Subclasses define ``forward``; calling a module runs it."""
    raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')


_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


class Module:
    """Base class of every layer and model, as ``torch.nn.Module``.

    Assigning a ``Parameter``, a ``Module`` or a ``Buffer`` as an attribute registers it, in
    definition order; ``parameters()``, ``state_dict()``, ``to()`` and friends then find it.
    Calling the module runs ``forward`` (with any registered hooks around it).
    """

    training: bool
    _version: int = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments {args} {sorted(kwargs)}")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = set()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = set()

    forward: Callable[..., Any] = _forward_unimplemented

    # -- calling --------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # NOTE: on every training step: with no hooks this is one dict-truth test and the forward call
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hid, hook in list(self._forward_hooks.items()):
            if hid in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def _register_hook(self, hooks: OrderedDict, extra: set, hook, prepend: bool, with_kwargs: bool):
        handle = RemovableHandle(hooks, extra)
        hooks[handle.id] = hook
        if with_kwargs:
            extra.add(handle.id)
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward; a returned value replaces the
        positional inputs (``with_kwargs=True``: ``hook(module, args, kwargs)`` returns both)."""
        return self._register_hook(
            self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs, hook, prepend, with_kwargs
        )

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward; a returned value replaces the
        output (``with_kwargs=True``: ``hook(module, args, kwargs, output)``)."""
        return self._register_hook(self._forward_hooks, self._forward_hooks_with_kwargs, hook, prepend, with_kwargs)

    # -- registration ---------------------------------------------------------------------------
    def _check_name(self, name, kind: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` (or None) as the buffer ``name``; persistent buffers are in the state dict."""
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' (Tensor or None required)")
        if isinstance(tensor, Buffer):
            persistent = tensor.persistent
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a ``Parameter`` or None) as the parameter ``name``."""
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None:
            if not isinstance(param, Parameter):
                raise TypeError(
                    f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                    f"(tensorweaver.nn.Parameter or None required)"
                )
            if param.grad_fn is not None:
                raise ValueError(
                    f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be created "
                    f"explicitly. To express '{name}' as a function of another Tensor, compute the value in "
                    f"the forward() method."
                )
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or None) as the submodule ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")

        def remove_from(*stores) -> None:
            for s in stores:
                if name in s:
                    if isinstance(s, set):
                        s.discard(name)
                    else:
                        del s[name]

        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    f"(tensorweaver.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        else:
            modules = d.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                remove_from(d, self._parameters, self._buffers, self._non_persistent_buffers_set)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(
                        f"cannot assign '{_typename(value)}' as child module '{name}' "
                        f"(tensorweaver.nn.Module or None expected)"
                    )
                modules[name] = value
            else:
                buffers = d.get("_buffers")
                if isinstance(value, Buffer) or (buffers is not None and name in buffers):
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(
                            f"cannot assign '{_typename(value)}' as buffer '{name}' "
                            f"(tensorweaver.nn.Buffer, tensorweaver.Tensor or None expected)"
                        )
                    if buffers is None:
                        raise AttributeError("cannot assign buffer before Module.__init__() call")
                    persistent = (
                        value.persistent if isinstance(value, Buffer) else name not in self._non_persistent_buffers_set
                    )
                    remove_from(d, self._parameters, self._modules)
                    self.register_buffer(name, value, persistent)
                else:
                    object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = [*dir(type(self)), *self.__dict__, *self._parameters, *self._modules, *self._buffers]
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path ``target`` (``""`` is this module)."""
        mod: Module = self
        if target == "":
            return mod
        for item in target.split("."):
            if item not in mod._modules or mod._modules[item] is None:
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target``."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod._parameters or mod._parameters[name] is None:
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return mod._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path ``target``."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod._buffers or mod._buffers[name] is None:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    # -- iteration ------------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """``(name, module)`` for this module and every submodule, depth first, each once unless
        ``remove_duplicate=False``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every submodule, each once."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for each direct submodule, each once."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        """The direct submodules, each once."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, v in mod.__dict__[store].items():
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in seen:
                        continue
                    seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + name, v

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` for every parameter, in registration order, each once
        unless ``remove_duplicate=False``."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (of submodules too, unless ``recurse=False``), each once."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` for every buffer that is not None."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer that is not None."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes and gradients --------------------------------------------------------------------
    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=False``: evaluation mode) here and in every submodule; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (``train(False)``): dropout off, batch norm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (the default) or to zeros in place."""
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:  # in place: the same gradient tensor, as PyTorch
                    g = p.grad
                    if g.requires_grad:  # made with create_graph: leave that graph first
                        g = p.grad = g.detach()
                    g.zero_()

    # -- devices and dtypes ---------------------------------------------------------------------
    def _apply(self, fn: Callable[[Tensor], Tensor]) -> Module:
        """Convert every parameter, its gradient and every buffer with ``fn`` in place (same objects)."""
        done: set[int] = set()
        with no_grad():
            for m in self.modules():
                for store in (m._parameters, m._buffers):
                    for t in store.values():
                        if t is None or id(t) in done:
                            continue
                        done.add(id(t))
                        _swap_storage(t, fn(t))
                        g = t._grad
                        if g is not None and id(g) not in done:
                            done.add(id(g))
                            _swap_storage(g, fn(g))
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``: move and/or cast
        the parameters, their gradients and the buffers in place (the same Parameter objects, so
        an optimizer made before keeps working); a dtype applies to floating-point tensors only."""
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        if len(args) > 2:
            raise TypeError(f"to() takes at most 2 positional arguments, got {len(args)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, _dtypes.dtype):
                dtype = a
            elif isinstance(a, (str, _backends.device)):
                device = a
            elif a is not None:
                raise TypeError(f"to() expected a device, a dtype or a tensor, got {_typename(a)}")
        if dtype is not None:
            dtype = _dtypes.to_dtype(dtype)
            if dtype.kind not in "fc":
                raise TypeError(
                    f"nn.Module.to only accepts floating point or complex dtypes, but got desired dtype={dtype}"
                )
        backend = None if device is None else _backends.get_backend(device)  # raises before any change
        target = None if backend is None else backend.device

        def convert(t: Tensor) -> Tensor:
            if target is not None:
                t = t.to(device=target)
            return t.to(dtype=dtype) if dtype is not None and t.dtype.kind in "fc" else t

        return self._apply(convert)

    def cpu(self) -> Module:
        """Move every parameter, gradient and buffer to the CPU in place."""
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Module:
        """Move every parameter, gradient and buffer to a CUDA device in place (``cuda()``, ``cuda(1)``)."""
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = f"cuda:{device}"
        return self.to(device)

    def _cast_floats(self, dtype: _dtypes.dtype) -> Module:
        return self._apply(lambda t: t.to(dtype) if t.dtype.kind == "f" else t)

    def float(self) -> Module:
        """Cast floating-point parameters and buffers to float32 in place."""
        return self._cast_floats(_dtypes.float32)

    def double(self) -> Module:
        """Cast floating-point parameters and buffers to float64 in place."""
        return self._cast_floats(_dtypes.float64)

    def half(self) -> Module:
        """Cast floating-point parameters and buffers to float16 in place."""
        return self._cast_floats(_dtypes.float16)

    def type(self, dst_type) -> Module:
        """Cast every parameter and buffer (integer ones too) to ``dst_type`` in place."""
        d = _dtypes.to_dtype(dst_type)
        return self._apply(lambda t: t.to(d))

    # -- state dicts ----------------------------------------------------------------------------
    def _local_state(self) -> Iterator[tuple[str, Tensor]]:
        for name, p in self._parameters.items():
            if p is not None:
                yield name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                yield name, b

    def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """An OrderedDict of every parameter and persistent buffer under PyTorch's dotted names,
        as detached tensors sharing their storage (the tensors themselves with ``keep_vars=True``)."""
        if destination is None:
            destination = OrderedDict()
        for name, t in self._local_state():
            destination[prefix + name] = t if keep_vars else t.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _state_entries(self, prefix: str = "") -> Iterator[tuple[str, Module, str, Tensor]]:
        """``(key, owner, attribute name, tensor)`` for every state-dict entry (shared tensors under each name)."""
        for name, t in self._local_state():
            yield prefix + name, self, name, t
        for name, m in self._modules.items():
            if m is not None:
                yield from m._state_entries(prefix + name + ".")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False) -> _IncompatibleKeys:
        """Copy the values of ``state_dict`` (tensors or NumPy arrays, by PyTorch's key names) into
        the parameters and buffers, in place, on their own devices and dtypes.

        Every entry is checked before anything changes: a wrong shape is always an error; missing
        and unexpected keys are errors when ``strict`` (else returned). NumPy arrays (say from
        ``safetensors.numpy.load_file``) and tensors on another device are copied to the module's
        device, an explicit host->device copy of the load. ``assign=True`` makes the parameters
        hold the given values instead (a Parameter keeps its ``requires_grad``).
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {_typename(state_dict)}.")
        entries = list(self._state_entries())
        expected = {key for key, *_ in entries}
        missing = [key for key, *_ in entries if key not in state_dict]
        unexpected = [key for key in state_dict.keys() if key not in expected]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
        todo = []
        for key, owner, name, t in entries:
            if key not in state_dict:
                continue
            value = state_dict[key]
            kind = getattr(getattr(value, "dtype", None), "kind", None)
            if not hasattr(value, "shape") or kind not in _KIND_RANK:
                errors.append(
                    f'While copying the parameter named "{key}", expected a Tensor or a NumPy array of numbers '
                    f"from checkpoint but received {_typename(value)}"
                )
                continue
            shape = tuple(value.shape)
            if shape != t.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {shape} from checkpoint, "
                    f"the shape in current model is {t.shape}."
                )
            elif not assign and _KIND_RANK[kind] > _KIND_RANK[t.dtype.kind]:
                errors.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model are {t.shape} and '
                    f"whose dimensions in the checkpoint are {shape}, a {value.dtype} value can't be copied into "
                    f"a {t.dtype} tensor."
                )
            else:
                todo.append((owner, name, t, value))
        if errors:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(self._get_name(), "\n\t".join(errors))
            )
        with no_grad():
            for owner, name, t, value in todo:
                if isinstance(value, Tensor):
                    src = value if value._backend is t._backend else value.to(t.device)
                else:  # a NumPy (or any host) array: the explicit host->device copy of a load
                    src = _tensor(value, device=t.device)
                if not assign:
                    t.copy_(src)
                elif isinstance(t, Parameter):
                    setattr(owner, name, src if isinstance(src, Parameter) else Parameter(src, t.requires_grad))
                else:
                    setattr(owner, name, src)
        return _IncompatibleKeys(missing, unexpected)

    # -- printing -------------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The module's own settings in its repr (subclasses override it: ``in_features=4, ...``)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(m), 2) for key, m in self._modules.items()]
        lines = extra_lines + child_lines
        s = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"
