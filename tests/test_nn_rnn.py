"""RNN, LSTM, GRU and their cells against PyTorch in float64 on every backend: outputs, final
states and the gradients of every weight, the input and the initial states."""

from __future__ import annotations

import numpy as np
import pytest
from test_nn_layers import compare_with_torch

import tensorweaver as tw

torch = pytest.importorskip("torch")

L, N, H_IN = 3, 2, 3

RNNS = [
    ("rnn_tanh", lambda nn: nn.RNN(H_IN, 4), [(L, N, H_IN)]),
    ("rnn_relu_2layers", lambda nn: nn.RNN(H_IN, 4, num_layers=2, nonlinearity="relu"), [(L, N, H_IN)]),
    (
        "rnn_bidir_batch_first_h0",
        lambda nn: nn.RNN(H_IN, 4, batch_first=True, bidirectional=True),
        [(N, L, H_IN), (2, N, 4)],
    ),
    ("lstm", lambda nn: nn.LSTM(H_IN, 4), [(L, N, H_IN)]),
    ("lstm_2layers_bidir", lambda nn: nn.LSTM(H_IN, 4, num_layers=2, bidirectional=True), [(L, N, H_IN)]),
    ("lstm_states_batch_first", lambda nn: nn.LSTM(H_IN, 4, batch_first=True), [(N, L, H_IN), (1, N, 4), (1, N, 4)]),
    ("lstm_proj_nobias", lambda nn: nn.LSTM(H_IN, 5, proj_size=2, bias=False, num_layers=2), [(L, N, H_IN)]),
    ("lstm_unbatched", lambda nn: nn.LSTM(H_IN, 4, bidirectional=True), [(L, H_IN)]),
    ("gru", lambda nn: nn.GRU(H_IN, 4), [(L, N, H_IN)]),
    (
        "gru_2layers_bidir_h0",
        lambda nn: nn.GRU(H_IN, 3, num_layers=2, bidirectional=True, batch_first=True),
        [(N, L, H_IN), (4, N, 3)],
    ),
    ("gru_unbatched_h0", lambda nn: nn.GRU(H_IN, 4), [(L, H_IN), (1, 4)]),
    ("gru_dropout_eval", lambda nn: nn.GRU(H_IN, 4, num_layers=2, dropout=0.5), [(L, N, H_IN)]),
]


def _call(m, x, *states):
    if not states:
        return m(x)
    return m(x, tuple(states) if len(states) == 2 else states[0])


@pytest.mark.parametrize("build, specs", [c[1:] for c in RNNS], ids=[c[0] for c in RNNS])
def test_rnn_matches_pytorch(build, specs, device):
    train = "dropout" not in build(torch.nn).extra_repr()
    compare_with_torch(build, specs, device, call=_call, train=train)


CELLS = [
    ("rnn_cell", lambda nn: nn.RNNCell(H_IN, 4), [(N, H_IN)]),
    ("rnn_cell_relu_h", lambda nn: nn.RNNCell(H_IN, 4, nonlinearity="relu"), [(N, H_IN), (N, 4)]),
    ("gru_cell", lambda nn: nn.GRUCell(H_IN, 4, bias=False), [(N, H_IN), (N, 4)]),
    ("lstm_cell", lambda nn: nn.LSTMCell(H_IN, 4), [(N, H_IN), (N, 4), (N, 4)]),
    ("lstm_cell_unbatched", lambda nn: nn.LSTMCell(H_IN, 4), [(H_IN,)]),
]


@pytest.mark.parametrize("build, specs", [c[1:] for c in CELLS], ids=[c[0] for c in CELLS])
def test_cell_matches_pytorch(build, specs, device):
    compare_with_torch(build, specs, device, call=_call)


def test_dropout_between_layers_only_in_training():
    tw.manual_seed(0)
    with pytest.warns(UserWarning, match="dropout option adds dropout after all but last recurrent layer"):
        tw.nn.LSTM(3, 4, dropout=0.5)
    m = tw.nn.LSTM(3, 4, num_layers=2, dropout=0.9)
    x = tw.randn(4, 2, 3)
    a, b = m(x)[0].detach().numpy(), m(x)[0].detach().numpy()
    assert not np.allclose(a, b)  # random masks differ
    m.eval()
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), m(x)[0].detach().numpy())


def test_rnn_bad_inputs():
    m = tw.nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        m(tw.zeros(2, 1, 5))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D tensor instead"):
        m(tw.zeros(2, 1, 1, 3))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 1, 4\), got \[1, 1, 4\]"):
        m(tw.zeros(2, 1, 3), (tw.zeros(1, 1, 4), tw.zeros(2, 1, 4)))
    with pytest.raises(RuntimeError, match="hx should also be 3-D"):
        tw.nn.GRU(3, 4)(tw.zeros(2, 1, 3), tw.zeros(1, 4))


def test_rnn_step_on_strict_makes_no_host_transfer():
    m = tw.nn.GRU(3, 4, num_layers=2, bidirectional=True).to("strict")
    x = tw.randn(3, 2, 3, device="strict")
    b = tw.backends.get_backend("strict")
    before = b.transfers
    out, h = m(x)
    (out.sum() + h.sum()).backward()
    assert b.transfers == before
    assert all(p.grad is not None and p.grad.device == tw.device("strict") for p in m.parameters())
