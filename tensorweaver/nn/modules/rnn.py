"""Recurrent layers: ``RNN`` (tanh/relu), ``LSTM``, ``GRU`` and their one-step cells.

Each layer and direction projects the whole input sequence at once (``F.linear`` over all time
steps), then runs the recurrence one step at a time; the gates are PyTorch's, in its order
(LSTM: i, f, g, o; GRU: r, z, n).
"""

from __future__ import annotations

import math
import numbers
import warnings

import tensorweaver as tw

from ... import factories
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]


# -- one time step: gi is the input's projection x @ w_ih.T + b_ih -----------------------------------
def _rnn_step(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh, relu: bool) -> Tensor:
    z = gi + F.linear(h, w_hh, b_hh)
    return F.relu(z) if relu else F.tanh(z)


def _gru_step(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh) -> Tensor:
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r = F.sigmoid(i_r + h_r)
    z = F.sigmoid(i_z + h_z)
    n = F.tanh(i_n + r * h_n)
    return n + z * (h - n)  # (1 - z) * n + z * h


def _lstm_step(gi: Tensor, h: Tensor, c, w_hh: Tensor, b_hh, w_hr) -> tuple[Tensor, Tensor]:
    i, f, g, o = (gi + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    h = F.sigmoid(o) * F.tanh(c)
    return (h if w_hr is None else F.linear(h, w_hr)), c


_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the weights ``weight_ih_l{k}[_reverse]``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and LSTM's ``weight_hr_l{k}``), all U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                UserWarning,
                stacklevel=3,
            )
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gates = _GATES[mode] * hidden_size
        out = proj_size or hidden_size
        for layer in range(num_layers):
            for direction in range(directions):
                in_size = input_size if layer == 0 else out * directions
                sfx = f"_l{layer}" + ("_reverse" if direction else "")

                def param(*shape: int) -> Parameter:
                    return Parameter(factories.empty(*shape, dtype=dtype, device=device))

                setattr(self, "weight_ih" + sfx, param(gates, in_size))
                setattr(self, "weight_hh" + sfx, param(gates, out))
                if bias:
                    setattr(self, "bias_ih" + sfx, param(gates))
                    setattr(self, "bias_hh" + sfx, param(gates))
                if proj_size:
                    setattr(self, "weight_hr" + sfx, param(proj_size, hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        std = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -std, std)

    def flatten_parameters(self) -> None:
        """Kept for PyTorch scripts (it packs weights for cuDNN there); the weights here need no packing."""

    def _weights(self, layer: int, direction: int) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        p = self._parameters
        return (
            p["weight_ih" + sfx],
            p.get("bias_ih" + sfx),
            p["weight_hh" + sfx],
            p.get("bias_hh" + sfx),
            p.get("weight_hr" + sfx),
        )

    def _check_hidden(self, h: Tensor, expected: tuple, what: str) -> None:
        if h.shape != expected:
            raise RuntimeError(f"Expected {what} size {expected}, got {list(h.shape)}")

    def forward(self, x: Tensor, hx=None):
        """``x`` (L, N, H_in), or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in); ``hx``
        the initial state(s) (zeros when None). Returns ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``),
        output (L, N, D * H_out), h_n (D * num_layers, N, H_out), as PyTorch."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor input (packed sequences are not supported), got {type(x)}")
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {x.ndim}D tensor instead")
        lstm = self.mode == "LSTM"
        batched = x.ndim == 3
        states: tuple = () if hx is None else tuple(hx) if lstm else (hx,)
        if lstm and hx is not None and len(states) != 2:
            raise RuntimeError(f"{name}: hx must be a tuple (h_0, c_0), got {len(states)} tensors")
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
            for s in states:
                if s.ndim != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {s.ndim}-D tensor")
            states = tuple(s.reshape(s.shape[0], 1, s.shape[1]) for s in states)
        else:
            if self.batch_first:
                x = x.transpose(0, 1)
            for s in states:
                if s.ndim != 3:
                    raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {s.ndim}-D tensor")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {x.shape[-1]}"
            )
        L, N = x.shape[0], x.shape[1]
        D = 2 if self.bidirectional else 1
        out_size = self.proj_size or self.hidden_size
        h_shape = (self.num_layers * D, N, out_size)
        c_shape = (self.num_layers * D, N, self.hidden_size)
        if states:
            self._check_hidden(states[0], h_shape, "hidden[0]" if lstm else "hidden")
            h0 = states[0]
            if lstm:
                self._check_hidden(states[1], c_shape, "hidden[1]")
            c0 = states[1] if lstm else None
        else:
            h0 = factories.zeros(*h_shape, dtype=x.dtype, device=x.device)
            c0 = factories.zeros(*c_shape, dtype=x.dtype, device=x.device) if lstm else None
        h_n, c_n = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(D):
                w_ih, b_ih, w_hh, b_hh, w_hr = self._weights(layer, direction)
                gi = F.linear(layer_in, w_ih, b_ih)  # every time step's input projection at once
                k = layer * D + direction
                h = h0[k]
                c = c0[k] if c0 is not None else None
                ys: list = [None] * L
                for t in range(L - 1, -1, -1) if direction else range(L):
                    if lstm:
                        h, c = _lstm_step(gi[t], h, c, w_hh, b_hh, w_hr)
                    elif self.mode == "GRU":
                        h = _gru_step(gi[t], h, w_hh, b_hh)
                    else:
                        h = _rnn_step(gi[t], h, w_hh, b_hh, self.mode == "RNN_RELU")
                    ys[t] = h
                outs.append(tw.stack(ys) if L else factories.zeros(0, N, out_size, dtype=x.dtype, device=x.device))
                h_n.append(h)
                c_n.append(c)
            layer_in = outs[0] if D == 1 else tw.cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        output = layer_in
        hn = tw.stack(h_n)
        cn = tw.stack(c_n) if lstm else None
        if not batched:
            output = output.reshape(L, output.shape[2])
            hn = hn.reshape(hn.shape[0], hn.shape[2])
            cn = cn.reshape(cn.shape[0], cn.shape[2]) if cn is not None else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return (output, (hn, cn)) if lstm else (output, hn)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh)`` (``nonlinearity='relu'``: relu).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, device=None, dtype=None)``.
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        rest = list(args)
        nonlinearity = rest.pop(3) if len(rest) > 3 else kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *rest, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o; ``c_t = f * c + i * g``, ``h_t = o * tanh(c_t)``
    (then ``@ W_hr.T`` with ``proj_size``). ``LSTM(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None)``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z, n; ``h_t = (1 - z) * n + z * h_{t-1}``. ``GRU(input_size,
    hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, device=None,
    dtype=None)``."""

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """What the cells share: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        g = gates * hidden_size
        self.weight_ih = Parameter(factories.empty(g, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(factories.empty(g, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(factories.empty(g, dtype=dtype, device=device))
            self.bias_hh = Parameter(factories.empty(g, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        std = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -std, std)

    def _prepare(self, x: Tensor, hx, n_states: int) -> tuple:
        """``(x as (N, H_in), states as (N, H), batched)``: zeros when ``hx`` is None."""
        name = type(self).__name__
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input has inconsistent input_size: got {x.shape[-1]} expected {self.input_size}"
            )
        batched = x.ndim == 2
        if not batched:
            x = x.reshape(1, x.shape[0])
        N = x.shape[0]
        if hx is None:
            states = tuple(
                factories.zeros(N, self.hidden_size, dtype=x.dtype, device=x.device) for _ in range(n_states)
            )
        else:
            states = tuple(hx) if n_states == 2 else (hx,)
            states = tuple(s if batched else s.reshape(1, s.shape[-1]) for s in states)
            for s in states:
                if s.shape != (N, self.hidden_size):
                    raise RuntimeError(f"{name}: expected hidden state of shape {(N, self.hidden_size)}, got {s.shape}")
        return x, states, batched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


def _unbatch(h: Tensor, batched: bool) -> Tensor:
    return h if batched else h.reshape(h.shape[-1])


class RNNCell(RNNCellBase):
    """One step of ``RNN``: ``h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)`` (or relu)."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None, dtype=None
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        """``x`` (N, H_in) or (H_in,), ``hx`` (N, H) -> h' (N, H)."""
        x, (h,), batched = self._prepare(x, hx, 1)
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        return _unbatch(_rnn_step(gi, h, self.weight_hh, self.bias_hh, self.nonlinearity == "relu"), batched)


class GRUCell(RNNCellBase):
    """One step of ``GRU``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        """``x`` (N, H_in) or (H_in,), ``hx`` (N, H) -> h' (N, H)."""
        x, (h,), batched = self._prepare(x, hx, 1)
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        return _unbatch(_gru_step(gi, h, self.weight_hh, self.bias_hh), batched)


class LSTMCell(RNNCellBase):
    """One step of ``LSTM``: returns ``(h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, x: Tensor, hx=None) -> tuple[Tensor, Tensor]:
        """``x`` (N, H_in) or (H_in,), ``hx = (h, c)`` each (N, H) -> ``(h', c')``."""
        x, (h, c), batched = self._prepare(x, hx, 2)
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        h, c = _lstm_step(gi, h, c, self.weight_hh, self.bias_hh, None)
        return _unbatch(h, batched), _unbatch(c, batched)
