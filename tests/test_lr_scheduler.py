"""tw.optim.lr_scheduler against torch.optim.lr_scheduler: learning rate (and momentum) sequences over
many steps, alone, chained and in SequentialLR; the closed form; state dict round trips; bad input."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch")

STEPS = 60


def _optimizers(name: str = "SGD", **kwargs):
    """The same two-group optimizer (lr 0.1 and 0.05) in tensorweaver and in PyTorch."""
    ours = [tw.tensor(np.ones(2), requires_grad=True), tw.tensor(np.ones(3), requires_grad=True)]
    theirs = [
        torch.ones(2, dtype=torch.float64, requires_grad=True),
        torch.ones(3, dtype=torch.float64, requires_grad=True),
    ]
    kwargs = {"lr": 0.1, **kwargs}
    opt = getattr(tw.optim, name)([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.05}], **kwargs)
    ref = getattr(torch.optim, name)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.05}], **kwargs)
    return opt, ref


# name -> (optimizer name and options, a function making the schedulers to step from a scheduler module
# and an optimizer); several schedulers on one optimizer are chained (their factors multiply)
SCHEDULES = {
    "StepLR": (("SGD", {}), lambda L, o: [L.StepLR(o, step_size=7, gamma=0.5)]),
    "MultiStepLR": (("SGD", {}), lambda L, o: [L.MultiStepLR(o, milestones=[30, 5, 12, 12], gamma=0.3)]),
    "ExponentialLR": (("SGD", {}), lambda L, o: [L.ExponentialLR(o, gamma=0.93)]),
    "CosineAnnealingLR": (("SGD", {}), lambda L, o: [L.CosineAnnealingLR(o, T_max=10, eta_min=0.001)]),
    "LambdaLR": (("SGD", {}), lambda L, o: [L.LambdaLR(o, lr_lambda=[lambda e: 0.95**e, lambda e: 1 / (1 + e)])]),
    "LinearLR": (("SGD", {}), lambda L, o: [L.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8)]),
    "OneCycleLR-SGD": (
        ("SGD", {"momentum": 0.9}),
        lambda L, o: [L.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS)],
    ),
    "OneCycleLR-Adam-linear-3phase": (
        ("Adam", {}),
        lambda L, o: [
            L.OneCycleLR(o, max_lr=0.01, epochs=6, steps_per_epoch=10, anneal_strategy="linear", three_phase=True)
        ],
    ),
    "OneCycleLR-no-momentum": (
        ("SGD", {}),
        lambda L, o: [L.OneCycleLR(o, max_lr=1.0, total_steps=STEPS, pct_start=0.25, cycle_momentum=False)],
    ),
    "chained-Exponential-Step": (("SGD", {}), lambda L, o: [L.ExponentialLR(o, gamma=0.97), L.StepLR(o, 5, 0.5)]),
    "chained-Linear-Cosine": (
        ("SGD", {}),
        lambda L, o: [L.LinearLR(o, start_factor=0.1, total_iters=5), L.CosineAnnealingLR(o, T_max=20)],
    ),
    "chained-MultiStep-Exponential": (
        ("SGD", {}),
        lambda L, o: [L.MultiStepLR(o, milestones=[10, 20]), L.ExponentialLR(o, gamma=0.99)],
    ),
    "SequentialLR-warmup-cosine": (
        ("SGD", {}),
        lambda L, o: [
            L.SequentialLR(
                o, [L.LinearLR(o, start_factor=0.1, total_iters=5), L.CosineAnnealingLR(o, T_max=50)], milestones=[5]
            )
        ],
    ),
    "SequentialLR-three": (
        ("SGD", {}),
        lambda L, o: [
            L.SequentialLR(
                o,
                [
                    L.ExponentialLR(o, gamma=0.9),
                    L.StepLR(o, step_size=4),
                    L.LinearLR(o, start_factor=0.5, total_iters=10),
                ],
                milestones=[10, 25],
            )
        ],
    ),
}


def _make(name):
    (opt_name, kwargs), make = SCHEDULES[name]
    opt, ref = _optimizers(opt_name, **kwargs)
    return opt, make(tw.optim.lr_scheduler, opt), ref, make(torch.optim.lr_scheduler, ref)


def _record(opt, scheds):
    groups = [{k: g[k] for k in ("lr", "momentum", "betas") if k in g} for g in opt.param_groups]
    return groups, [s.get_last_lr() for s in scheds]


def _assert_same(ours, theirs):
    groups, last = ours
    ref_groups, ref_last = theirs
    for g, h in zip(groups, ref_groups, strict=True):
        assert g.keys() == h.keys()
        for k in g:
            np.testing.assert_allclose(np.asarray(g[k]), np.asarray(h[k]), rtol=1e-12, atol=0, err_msg=k)
    np.testing.assert_allclose(np.asarray(last), np.asarray(ref_last), rtol=1e-12, atol=0)


def _run(opt, scheds, steps):
    out = []
    for _ in range(steps):
        opt.step()
        for s in scheds:
            s.step()
        out.append(_record(opt, scheds))
    return out


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_matches_torch(name):
    opt, scheds, ref, ref_scheds = _make(name)
    _assert_same(_record(opt, scheds), _record(ref, ref_scheds))
    for ours, theirs in zip(_run(opt, scheds, STEPS), _run(ref, ref_scheds, STEPS), strict=True):
        _assert_same(ours, theirs)
    for s, r in zip(scheds, ref_scheds, strict=True):
        assert s.last_epoch == r.last_epoch == STEPS
        assert set(s.state_dict()) == set(r.state_dict())  # PyTorch's state dict layout


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_state_dict_round_trip(name):
    opt, scheds, _, _ = _make(name)
    _run(opt, scheds, 13)
    opt_sd = copy.deepcopy(opt.state_dict())
    sched_sds = [copy.deepcopy(s.state_dict()) for s in scheds]
    expected = _run(opt, scheds, 20)

    opt2, scheds2, _, _ = _make(name)  # as PyTorch advises: schedulers made first, then the states loaded
    opt2.load_state_dict(opt_sd)
    for s, sd in zip(scheds2, sched_sds, strict=True):
        s.load_state_dict(sd)
    for ours, theirs in zip(_run(opt2, scheds2, 20), expected, strict=True):
        assert ours == theirs


def test_lambda_lr_state_keeps_callable_objects():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)

    opt, _ = _optimizers()
    fn = Warmup(4)
    sched = tw.optim.lr_scheduler.LambdaLR(opt, [fn, lambda e: 1.0])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"n": 4}, None]
    fn.n = 10
    sched.load_state_dict(sd)
    assert fn.n == 4 and "lr_lambdas" in sd


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR"])
def test_closed_form_matches_torch(name):
    opt, (sched,), ref, (ref_sched,) = _make(name)
    for epoch in [3, 10, 4, 25, 0, 9]:
        with pytest.warns(UserWarning, match="The epoch parameter"):
            sched.step(epoch)
        ref.step()
        with pytest.warns(UserWarning, match="The epoch parameter"):
            ref_sched.step(epoch)
        _assert_same(_record(opt, [sched]), _record(ref, [ref_sched]))


def test_get_lr_outside_step_warns():
    opt, _ = _optimizers()
    sched = tw.optim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


# -- ReduceLROnPlateau ---------------------------------------------------------------------------
METRICS = [1.0, 0.9, 0.95, 0.96, 0.97, 0.97, 0.85, 0.86, 0.86, 0.87, 0.88, 0.9, 0.84, 0.8, 0.8, 0.81, 0.82, 0.83]
PLATEAU = [
    {"mode": "min", "factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": [0.01, 0.002]},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.01, "patience": 0},
    {"mode": "min", "threshold_mode": "abs", "threshold": 0.02, "patience": 1, "min_lr": 0.02, "eps": 1e-3},
    {"mode": "max", "factor": 0.3, "patience": 1, "cooldown": 2},
]
PLATEAU_STATE = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")


@pytest.mark.parametrize("kwargs", PLATEAU)
def test_reduce_on_plateau_matches_torch(kwargs):
    opt, ref = _optimizers()
    sched = tw.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    ref_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(ref, **kwargs)
    assert set(sched.state_dict()) == set(ref_sched.state_dict())
    for metric in METRICS + METRICS[::-1]:
        sched.step(metric)
        ref_sched.step(metric)
        _assert_same(_record(opt, [sched]), _record(ref, [ref_sched]))
        assert [getattr(sched, k) for k in PLATEAU_STATE] == [getattr(ref_sched, k) for k in PLATEAU_STATE]


def test_reduce_on_plateau_takes_tensors(device):
    """A one-element tensor metric works on every device (read to the host: the user's choice)."""
    opt, _ = _optimizers()
    opt2, _ = _optimizers()
    sched = tw.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    by_number = tw.optim.lr_scheduler.ReduceLROnPlateau(opt2, patience=1)
    for metric in METRICS:
        sched.step(tw.tensor(np.array([metric]), device=device))
        by_number.step(metric)
        assert sched.get_last_lr() == by_number.get_last_lr()
    with pytest.raises(ValueError, match=r"one-element tensor, got shape \(2,\)"):
        sched.step(tw.tensor(np.array([1.0, 2.0]), device=device))


def test_reduce_on_plateau_state_dict_round_trip():
    opt, _ = _optimizers()
    sched = tw.optim.lr_scheduler.ReduceLROnPlateau(opt, **PLATEAU[0])
    for metric in METRICS[:7]:
        sched.step(metric)
    opt_sd, sd = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    expected = []
    for metric in METRICS[7:]:
        sched.step(metric)
        expected.append(sched.get_last_lr())
    opt2, _ = _optimizers()
    sched2 = tw.optim.lr_scheduler.ReduceLROnPlateau(opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    got = []
    for metric in METRICS[7:]:
        sched2.step(metric)
        got.append(sched2.get_last_lr())
    assert got == expected


# -- bad input -----------------------------------------------------------------------------------
def _check_both(make, error, message):
    opt, ref = _optimizers()
    with pytest.raises(error, match=re.escape(message)):
        make(tw.optim.lr_scheduler, opt)
    with pytest.raises(error, match=re.escape(message)):
        make(torch.optim.lr_scheduler, ref)


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda L, o: L.LinearLR(o, start_factor=0), ValueError, "Starting multiplicative factor expected"),
        (lambda L, o: L.LinearLR(o, end_factor=2.0), ValueError, "Ending multiplicative factor expected"),
        (lambda L, o: L.OneCycleLR(o, max_lr=0.1), ValueError, "You must define either total_steps OR"),
        (lambda L, o: L.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError, "Expected positive integer total_steps"),
        (lambda L, o: L.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=0), ValueError, "steps_per_epoch"),
        (lambda L, o: L.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1.5), ValueError, "pct_start"),
        (lambda L, o: L.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="x"), ValueError, "anneal_strategy"),
        (lambda L, o: L.OneCycleLR(o, max_lr=[0.1], total_steps=5), ValueError, "max_lr must have the same length"),
        (lambda L, o: L.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
        (lambda L, o: L.ReduceLROnPlateau(o, mode="median"), ValueError, "mode median is unknown!"),
        (lambda L, o: L.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold mode x is unknown!"),
        (lambda L, o: L.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
        (lambda L, o: L.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
        (lambda L, o: L.StepLR(o, step_size=2, last_epoch=3), KeyError, "param 'initial_lr' is not specified"),
        (lambda L, o: L.SequentialLR(o, [L.StepLR(o, 2)], milestones=[3]), ValueError, "number of milestones"),
        (lambda L, o: L.SequentialLR(o, [], milestones=[]), ValueError, "expects at least one scheduler"),
        (
            lambda L, o: L.SequentialLR(o, [L.StepLR(o, 2), L.ReduceLROnPlateau(o)], milestones=[3]),
            ValueError,
            "does not support `ReduceLROnPlateau`",
        ),
    ],
)
def test_bad_input_as_torch(make, error, message):
    _check_both(make, error, message)


def test_bad_input():
    opt, _ = _optimizers()
    other, _ = _optimizers()
    L = tw.optim.lr_scheduler
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        L.StepLR([], step_size=2)
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        L.SequentialLR(opt, [L.StepLR(opt, 2), L.StepLR(other, 2)], milestones=[3])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        L.OneCycleLR(tw.optim.Adagrad([tw.tensor(np.ones(1), requires_grad=True)]), max_lr=0.1, total_steps=5)
    sched = L.OneCycleLR(opt, max_lr=0.1, total_steps=3, cycle_momentum=False)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        sched.step()
    seq = L.SequentialLR(opt, [L.StepLR(opt, 2), L.StepLR(opt, 3)], milestones=[3])
    sd = seq.state_dict()
    sd["_schedulers"] = sd["_schedulers"][:1]
    with pytest.raises(ValueError, match="the state dict has 1 schedulers, this SequentialLR has 2"):
        seq.load_state_dict(sd)


def test_resume_with_last_epoch():
    """Made again with last_epoch after the optimizer's state is loaded, a scheduler goes on as before."""
    opt, (sched,), _, _ = _make("StepLR")
    _run(opt, [sched], 9)
    sd = copy.deepcopy(opt.state_dict())
    expected = _run(opt, [sched], 10)
    opt2, _ = _optimizers()
    opt2.load_state_dict(sd)
    sched2 = tw.optim.lr_scheduler.StepLR(opt2, step_size=7, gamma=0.5, last_epoch=8)
    assert [round(lr, 15) for lr in sched2.get_last_lr()] == [0.05, 0.025]
    got = _run(opt2, [sched2], 10)
    assert [g for g, _ in got] == [g for g, _ in expected]
