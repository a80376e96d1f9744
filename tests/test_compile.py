"""tw.compile: compiled steps equal eager ones (state, gradients, optimizer state, random numbers),
guards record again, what can't be recorded falls back with one warning (or raises), on every backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tensorweaver as tw
import tensorweaver.nn as nn
import tensorweaver.nn.functional as F
from tensorweaver.compile import CompileWarning, Unrecordable


def _np(t):
    return np.asarray(t.detach().cpu().numpy()) if t.device.type != "strict" else _host(t)


def _host(t):
    return np.asarray(t.detach().tolist())


def host(t):
    return np.asarray(t.detach().tolist())


class Textbook:
    """The chapter's loop body, as a function of the closed-over tensors."""

    def __init__(self, device) -> None:
        self.x = tw.tensor([[0.0], [20.0], [40.0], [60.0], [80.0], [100.0]], device=device)
        self.y = tw.tensor([[32.0], [68.0], [104.0], [140.0], [176.0], [212.0]], device=device)
        self.w = tw.tensor([[1.0]], dtype=tw.float64, device=device, requires_grad=True)
        self.b = tw.tensor([0.0], dtype=tw.float64, device=device, requires_grad=True)
        self.lr = 0.0001

    def step(self):
        x, y, w, b, lr = self.x, self.y, self.w, self.b, self.lr
        pred = x @ w.T + b
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        w.data -= lr * w.grad  # pyright: ignore[reportOperatorIssue]
        b.data -= lr * b.grad  # pyright: ignore[reportOperatorIssue]
        w.grad = None
        b.grad = None
        return loss


def test_textbook_loop_equals_eager(device):
    eager, comp = Textbook(device), Textbook(device)
    step = tw.compile(comp.step)
    for _ in range(50):
        le = eager.step()
        lc = step()
        assert lc.device == le.device
        assert np.array_equal(host(lc), host(le))
    assert len(step.programs) == 1 and step.records == 1
    assert np.array_equal(host(comp.w), host(eager.w)) and np.array_equal(host(comp.b), host(eager.b))
    assert comp.w.grad is None and comp.b.grad is None
    assert comp.w.requires_grad and comp.w.is_leaf and comp.w.dtype is tw.float64


def test_textbook_replay_makes_no_host_transfer():
    m = Textbook("strict")
    step = tw.compile(m.step)
    step()
    step()
    backend = tw.backends.get_backend("strict")
    before = backend.transfers
    for _ in range(3):
        step()
    assert backend.transfers == before
    assert step.records == 1


def test_decorator_and_arguments(device):
    w = tw.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)

    @tw.compile
    def step(x, scale):
        loss = (w * x).sum() * scale
        loss.backward()
        with tw.no_grad():
            w.sub_(w.grad * 0.1)  # pyright: ignore[reportOptionalOperand]
        w.grad = None
        return loss, {"w": w}

    w_e = tw.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)

    def eager(x, scale):
        loss = (w_e * x).sum() * scale
        loss.backward()
        with tw.no_grad():
            w_e.sub_(w_e.grad * 0.1)  # pyright: ignore[reportOptionalOperand]
        w_e.grad = None
        return loss

    for i in range(4):
        x = tw.tensor([float(i), 1.0, 2.0], device=device)
        (lc, d), le = step(x, 2.0), eager(x, 2.0)
        assert d["w"] is w
        assert np.array_equal(host(lc), host(le))
    assert step.records == 1
    step(tw.tensor([1.0, 1.0, 1.0], device=device), 3.0)  # a Python number the step read: records again
    eager(tw.tensor([1.0, 1.0, 1.0], device=device), 3.0)
    assert step.records == 2 and np.array_equal(host(w), host(w_e))
    x2 = tw.tensor([[1.0, 1.0, 1.0]] * 2, device=device)  # another shape: records again
    step(x2, 3.0)
    eager(x2, 3.0)
    assert step.records == 3 and np.array_equal(host(w), host(w_e))
    step(tw.tensor([1.0, 1.0, 1.0], device=device), 3.0)  # the earlier guard set: replayed from the cache
    eager(tw.tensor([1.0, 1.0, 1.0], device=device), 3.0)
    assert step.records == 3 and np.array_equal(host(w), host(w_e))


def _mlp(device, seed=0, dropout=0.0):
    tw.manual_seed(seed)
    layers = [nn.Linear(12, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(16, 4)]
    return nn.Sequential(*layers).to(device)


def _data(device, n=8, seed=1):
    rng = np.random.default_rng(seed)
    x = tw.tensor(rng.standard_normal((n, 12)).astype(np.float32), device=device)
    y = tw.tensor(rng.integers(0, 4, n), device=device)
    return x, y


def _train_pair(device, make_opt, steps=6, dropout=0.0, sched=None):
    """The same MLP trained eagerly and compiled; returns both models and optimizers."""
    out = []
    for compiled in (False, True):
        model = _mlp(device, dropout=dropout)
        opt = make_opt(model.parameters())
        s = None if sched is None else sched(opt)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = tw.compile(step) if compiled else step
        tw.manual_seed(123)
        losses = []
        for i in range(steps):
            x, y = _data(device, seed=i % 2)
            losses.append(host(fn(x, y)))
            if s is not None:
                s.step()
        out.append((model, opt, losses, fn))
    return out


def _same_state(a, b, rtol=0.0):
    (ma, oa, la, _), (mb, ob, lb, _fb) = a, b
    for pa, pb in zip(ma.parameters(), mb.parameters(), strict=True):
        np.testing.assert_allclose(host(pb), host(pa), rtol=rtol, atol=0)
        assert (pa.grad is None) == (pb.grad is None)
        if pa.grad is not None:
            np.testing.assert_allclose(host(pb.grad), host(pa.grad), rtol=rtol, atol=0)
    for pa, pb in zip(ma.parameters(), mb.parameters(), strict=True):
        sa, sb = oa.state.get(pa, {}), ob.state.get(pb, {})
        assert sa.keys() == sb.keys()
        for k in sa:
            if isinstance(sa[k], tw.Tensor):
                np.testing.assert_allclose(host(sb[k]), host(sa[k]), rtol=rtol, atol=0)
            else:
                assert sa[k] == sb[k] and type(sa[k]) is type(sb[k])
    np.testing.assert_allclose(np.array(lb), np.array(la), rtol=rtol, atol=0)


def test_mlp_sgd_momentum_equals_eager(device):
    pair = _train_pair(device, lambda p: tw.optim.SGD(p, lr=0.1, momentum=0.9))
    _same_state(*pair)
    fn = pair[1][3]
    assert len(fn.programs) == 1  # step 1 makes the momentum buffers; steps 3.. replay the program of step 2
    assert fn.records == 2


def test_mlp_adam_equals_eager(device):
    pair = _train_pair(device, lambda p: tw.optim.Adam(p, lr=0.01), steps=7)
    _same_state(*pair)
    fn = pair[1][3]
    assert fn.records == 2 and len(fn.programs) == 1  # the step count is read afresh by each replay


def test_lr_changed_by_a_scheduler_between_calls(device):
    pair = _train_pair(
        device,
        lambda p: tw.optim.SGD(p, lr=0.1, momentum=0.5),
        steps=8,
        sched=lambda o: tw.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    )
    _same_state(*pair)
    assert pair[1][3].records == 2  # the new learning rates needed no new recording


def test_dropout_with_a_seed_equals_eager(device):
    pair = _train_pair(device, lambda p: tw.optim.SGD(p, lr=0.1), steps=5, dropout=0.5)
    _same_state(*pair)
    assert pair[1][3].records == 2  # call 1 starts without gradients, the later ones with them


def test_model_training_flag_is_guarded(device):
    model = _mlp(device, dropout=0.5)
    x, _ = _data(device)

    @tw.compile
    def fwd(x):
        with tw.no_grad():
            return model(x)

    tw.manual_seed(5)
    a = host(fwd(x))
    model.eval()
    b = host(fwd(x))
    with tw.no_grad():
        ref = host(model(x))
    np.testing.assert_array_equal(b, ref)
    assert not np.array_equal(a, b)
    assert fwd.records == 2


def test_item_inside_falls_back_with_one_warning(device):
    m = Textbook(device)

    def step():
        loss = m.step()
        return loss.item()

    fn = tw.compile(step)
    with pytest.warns(CompileWarning, match=r"Tensor\.item\(\).*test_compile\.py:\d+: return loss\.item\(\)"):
        v1 = fn()
    e = Textbook(device)
    assert v1 == e.step().item()
    v2 = fn()  # eager from now on, no second warning (warnings are errors in this test run)
    assert v2 == e.step().item() and fn.eager_reason is not None
    np.testing.assert_array_equal(host(m.w), host(e.w))


def test_fullgraph_raises(device):
    m = Textbook(device)

    def step():
        loss = m.step()
        if loss > 0:
            return loss
        return None

    fn = tw.compile(step, fullgraph=True)
    with pytest.raises(Unrecordable, match=r"bool\(tensor\).*if loss > 0:"):
        fn()


def test_boolean_mask_falls_back(device):
    w = tw.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)

    def step():
        loss = w[w > 0].sum()
        loss.backward()
        g = w.grad
        w.grad = None
        return g

    fn = tw.compile(step)
    with pytest.warns(CompileWarning, match="boolean-mask"):
        g = fn()
    np.testing.assert_array_equal(host(g), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(host(fn()), [1.0, 0.0, 1.0])


def test_hook_falls_back(device):
    w = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(1))

    @tw.compile
    def step():
        (w * w).sum().backward()
        w.grad = None

    with pytest.warns(CompileWarning, match="gradient hook"):
        step()
    step()
    assert seen == [1, 1]


def test_grad_accumulates_across_calls(device):
    """A step that leaves .grad set: the next replay reads and adds to it, as eager does."""
    w = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    we = tw.tensor([1.0, 2.0], device=device, requires_grad=True)

    def make(t):
        def step(x):
            (t * x).sum().backward()

        return step

    c, e = tw.compile(make(w)), make(we)
    for i in range(4):
        x = tw.tensor([float(i), 1.0], device=device)
        c(x)
        e(x)
        np.testing.assert_array_equal(host(w.grad), host(we.grad))
    g = w.grad
    c(tw.tensor([1.0, 1.0], device=device))
    assert w.grad is not g  # a new gradient tensor, as eager: the one the caller holds is unchanged
    np.testing.assert_array_equal(host(g), host(we.grad))


def test_replaced_parameter_records_again(device):
    m = Textbook(device)
    step = tw.compile(m.step)
    step()
    step()
    m.w = tw.tensor([[2.0]], dtype=tw.float64, device=device, requires_grad=True)
    e = Textbook(device)
    e.step()
    e.step()
    e.w = tw.tensor([[2.0]], dtype=tw.float64, device=device, requires_grad=True)
    step()
    e.step()
    assert step.records == 2
    np.testing.assert_array_equal(host(m.w), host(e.w))


def test_compiled_results_are_fresh(device):
    """Returned tensors are new each call (the caller may keep them)."""
    m = Textbook(device)
    step = tw.compile(m.step)
    losses = [step() for _ in range(4)]
    vals = [host(v) for v in losses]
    assert len({float(v) for v in vals}) == 4


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: tw.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: tw.optim.Adam(p, lr=0.01, weight_decay=0.01, amsgrad=True),
        lambda p: tw.optim.AdamW(p, lr=0.01),
        lambda p: tw.optim.RMSprop(p, lr=0.01, momentum=0.5),
        lambda p: tw.optim.Adagrad(p, lr=0.05),
        lambda p: tw.optim.Adamax(p, lr=0.01),
        lambda p: tw.optim.NAdam(p, lr=0.01),
        lambda p: tw.optim.RAdam(p, lr=0.01),
    ],
    ids=["sgd-nesterov", "adam-amsgrad", "adamw", "rmsprop", "adagrad", "adamax", "nadam", "radam"],
)
def test_every_optimizer_equals_eager(make_opt):
    pair = _train_pair("cpu", make_opt, steps=7)
    _same_state(*pair)
    assert pair[1][3].eager_reason is None


def test_eager_replay_mode_equals_eager(device):
    """mode="eager-replay" runs the program as guard, body and finish (the parts a CUDA graph uses)."""
    pair = []
    for mode in (None, "eager-replay"):
        model = _mlp(device)
        opt = tw.optim.Adam(model.parameters(), lr=0.01)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = tw.compile(step, mode=mode)
        losses = [host(fn(*_data(device, seed=i % 2))) for i in range(5)]
        pair.append((model, opt, losses, fn))
    _same_state(*pair)
    assert pair[1][3].records == 2


def test_mode_is_checked():
    with pytest.raises(ValueError, match="unknown mode"):
        tw.compile(lambda: None, mode="fast")
    with pytest.raises(TypeError, match="callable"):
        tw.compile(3)


@pytest.mark.gpu
@pytest.mark.skipif(not tw.cuda.availability()[0], reason="no CUDA")
def test_cuda_graph_replay_equals_eager():
    """On CUDA the third call launches one captured graph; results equal eager, state written back."""
    pair = _train_pair("cuda", lambda p: tw.optim.SGD(p, lr=0.1, momentum=0.9), steps=8)
    _same_state(*pair, rtol=1e-6)
    entry = pair[1][3].programs[0]
    assert entry.graph is not None and entry.launches >= 4


@pytest.mark.gpu
@pytest.mark.skipif(not tw.cuda.availability()[0], reason="no CUDA")
def test_cuda_graph_textbook_and_new_lr():
    """The textbook step as a graph: new inputs are copied in, in-place updates reach the tensors; a new
    closed-over learning rate records again."""
    eager, comp = Textbook("cuda"), Textbook("cuda")
    step = tw.compile(comp.step)
    for i in range(12):
        if i == 6:
            eager.lr = comp.lr = 0.0002
        np.testing.assert_allclose(host(step()), host(eager.step()), rtol=1e-12)
    np.testing.assert_allclose(host(comp.w), host(eager.w), rtol=1e-12)
    assert step.programs[0].launches >= 3 and step.records == 2
    eager_mode = tw.compile(Textbook("cuda").step, mode="eager-replay")
    for _ in range(3):
        eager_mode()
    assert not hasattr(eager_mode.programs[0], "graph")


def test_a_kept_tensor_is_never_stale(device):
    """A step that stores a tensor it makes where no replay could update it is not replayed."""
    m = Textbook(device)
    kept = []

    def step():
        loss = m.step()
        kept.append(loss)

    fn = tw.compile(step)
    with pytest.warns(CompileWarning, match="keeps a tensor"):
        for _ in range(20):
            fn()
    assert len({float(host(t)) for t in kept}) == 20


def test_peak_memory_not_above_eager():
    import tracemalloc

    def peak(fn):
        fn()
        fn()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        p = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        return p

    def make():
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = tw.optim.SGD(model.parameters(), lr=0.01)
        x, y = tw.randn(128, 784), tw.randint(0, 10, (128,))

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        return step

    eager, comp = make(), tw.compile(make())
    comp()
    assert peak(comp) <= peak(eager)


def test_tensor_from_host_data_inside_falls_back(device):
    w = tw.tensor([1.0, 2.0], device=device, requires_grad=True)

    @tw.compile
    def step(scale):
        c = tw.tensor([scale, scale], device=device)  # host data: a replay would bake it in
        (w * c).sum().backward()
        g = w.grad
        w.grad = None
        return g

    with pytest.warns(CompileWarning, match="host data"):
        step(1.0)
    np.testing.assert_array_equal(host(step(3.0)), [3.0, 3.0])


def test_grad_mode_is_guarded(device):
    w = tw.tensor([1.0, 2.0], device=device, requires_grad=True)

    @tw.compile
    def fwd():
        y = (w * 2).sum()
        if tw.is_grad_enabled():
            y.backward()
        return y.detach()

    a = fwd()
    with tw.no_grad():
        b = fwd()
        fwd()
    assert fwd.records == 2 and np.array_equal(host(a), host(b))
    fwd()  # w.grad is set now: another guard set (the gradient is accumulated into)
    fwd()
    assert fwd.records == 3
    np.testing.assert_array_equal(host(w.grad), [6.0, 6.0])


def test_post_accumulate_hook_falls_back(device):
    w = tw.tensor([1.0, 2.0], device=device, requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(1))

    @tw.compile
    def step():
        (w * w).sum().backward()
        w.grad = None

    with pytest.warns(CompileWarning, match="hook"):
        step()
    step()
    assert seen == [1, 1]


def test_mlp_replay_makes_no_host_transfer():
    model = _mlp("strict")
    opt = tw.optim.Adam(model.parameters(), lr=0.01)
    x, y = _data("strict")

    @tw.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step(x, y)
    step(x, y)
    backend = tw.backends.get_backend("strict")
    before = backend.transfers
    for _ in range(3):
        step(x, y)
    assert backend.transfers == before and step.records == 2


class _MatMulLayer(nn.Module):
    """``x @ w.T`` written out (F.linear is one op): its weight gradient is a transpose of a transpose."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.w = nn.Parameter(tw.randn(n_out, n_in) * n_in**-0.5)

    def forward(self, x):
        return x @ self.w.T


def test_reused_out_buffers_equal_eager():
    """Temporaries large enough for out= buffers (reused across calls), among them one that an in-place
    operator then changes (F.linear adds its bias into its product): results still equal eager."""
    states = []
    for compiled in (False, True):
        tw.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 96), nn.ReLU(), _MatMulLayer(96, 96), nn.ReLU(), nn.Linear(96, 10))
        opt = tw.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = tw.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(6):
            x = tw.tensor(rng.standard_normal((64, 64)).astype(np.float32))
            y = tw.tensor(rng.integers(0, 10, 64))
            losses.append(host(fn(x, y)))
        states.append(([host(p) for p in model.parameters()], losses, fn))
    (pe, le, _), (pc, lc, fn) = states
    for a, b in zip(pe, pc, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.array(le), np.array(lc))
    prog = fn.programs[0]
    assert prog.buffers  # the path under test was taken
    assert prog.alias  # a weight gradient's double transpose is its own array
    assert prog.dropped > 0


def test_graph_replay_bookkeeping_with_a_stand_in_for_cupy(monkeypatch):
    """GraphReplay on the CPU, CuPy replaced by a stand-in whose graph launch runs the captured body:
    static inputs (the tensors' own arrays, or copies for a new batch each call), copies back of
    in-place updates, fresh outputs. (A real capture runs nothing: the stand-in's capture is undone.)"""
    import contextlib
    import sys
    import types

    from tensorweaver.compile import _cuda

    holder = {}

    class Stream:
        def __init__(self, non_blocking=False):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def synchronize(self):
            pass

        def begin_capture(self):
            pass

        def end_capture(self):
            return Graph()

    class Graph:
        def launch(self, stream=None):
            gr = holder["gr"]
            gr.static_out = tuple(gr.prog.body(*gr.static_in, *gr.ys))

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        MemoryPool=lambda: types.SimpleNamespace(malloc=None),
        Stream=Stream,
        get_current_stream=Stream,
        using_allocator=lambda a: contextlib.nullcontext(),
    )
    fake.array = lambda a, copy=True: np.array(a, copy=True)  # type: ignore[attr-defined]
    fake.copyto = np.copyto  # type: ignore[attr-defined]
    fake.ndarray = type("ndarray", (), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", fake)

    results = []
    for graph in (False, True):
        tw.manual_seed(0)
        model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
        opt = tw.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = tw.compile(step)
        losses = []
        for i in range(8):
            x, y = _data("cpu", seed=i)
            if graph and i == 2:  # the program recorded by call 1 (the steady step), as a graph from now on
                gr = holder["gr"] = _cuda.GraphReplay(fn.programs[0])
                real = gr._capture

                def capture(ins, ys, real=real):
                    saved = [np.array(a, copy=True) for a in ins]
                    real(ins, ys)
                    for a, v in zip(ins, saved, strict=True):
                        np.copyto(a, v)

                gr._capture = capture
                fn.programs[0] = gr
            losses.append(host(fn(x, y)))
        results.append(([host(p) for p in model.parameters()], losses))
    (pe, le), (pg, lg) = results
    for a, b in zip(pe, pg, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.array(le), np.array(lg))
    gr = holder["gr"]
    assert gr.launches == 5 and gr.graph is not None  # call 2 warms and captures, calls 3-7 launch
    assert len(gr.direct) < len(gr.prog.split_in)  # the batch is copied in, the parameters are read in place


def test_replayed_step_checks_its_targets(device):
    """cross_entropy's target range check is part of the program: a replay with a bad target raises
    PyTorch's IndexError (never a loss computed from a wrapped-around index), and nothing re-records."""
    model = _mlp(device)
    opt = tw.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = tw.compile(step, fullgraph=True)
    x, y = _data(device)
    for _ in range(3):  # the first call records; the second again, as .grad now exists
        fn(x, y)
    records = fn.records
    bad = tw.tensor([0, 1, 2, 3, 0, 1, 2, -1], device=device)
    with pytest.raises(IndexError, match="out of bounds"):
        fn(x, bad)
    assert fn.records == records


@pytest.mark.parametrize(
    "make_opt", [lambda p: tw.optim.Adam(p, lr=0.01), lambda p: tw.optim.SGD(p, lr=0.1, momentum=0.9)]
)
def test_host_read_before_the_optimizer_step_falls_back_exactly(make_opt):
    """A host read in the forward gives the recording up mid-call; the rest of that call (the
    optimizer's step, which reads its numbers) runs eagerly on plain values and equals eager."""
    losses = []
    for compiled in (False, True):
        model = _mlp("cpu")
        opt = make_opt(model.parameters())

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            out = model(x)
            scale = 1.0 if out.sum().item() > -1e9 else 2.0  # a host read: not recordable
            loss = F.cross_entropy(out * scale, y)
            loss.backward()
            opt.step()
            return loss

        fn = tw.compile(step) if compiled else step
        x, y = _data("cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            losses.append([host(fn(x, y)) for _ in range(4)])
    np.testing.assert_array_equal(losses[0], losses[1])
