"""tw.optim against torch.optim: every optimizer and option, two parameter groups, on every backend,
in float64; state dicts (round trip, PyTorch's own), host transfers per step, state following a
moved parameter, bad input, closures."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

import tensorweaver as tw

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (4,), (2, 3)]  # params 0 and 1 in group 0, param 2 in group 1
STEPS = 10  # enough for RAdam's rectified branch (rho_t > 5 from step 6 with beta2=0.999)

# (name, defaults, (group 0 options, group 1 options)): together they cover every option
CASES = {
    "SGD": [
        ({"lr": 0.1}, ({}, {"lr": 0.05, "momentum": 0.9})),
        (
            {"lr": 0.1, "momentum": 0.9, "nesterov": True},
            ({}, {"momentum": 0.5, "dampening": 0.3, "nesterov": False, "weight_decay": 0.1}),
        ),
        ({"lr": 0.05, "maximize": True}, ({"weight_decay": 0.01}, {"lr": 0.2, "momentum": 0.9, "nesterov": True})),
    ],
    "Adam": [
        ({}, ({}, {"lr": 0.01, "betas": (0.8, 0.99)})),
        ({"lr": 0.01}, ({"amsgrad": True}, {"weight_decay": 0.1, "maximize": True})),
        (
            {"lr": 0.02, "eps": 1e-6},
            (
                {"weight_decay": 0.1, "amsgrad": True, "maximize": True},
                {"decoupled_weight_decay": True, "weight_decay": 0.1},
            ),
        ),
    ],
    "AdamW": [
        ({"lr": 0.01}, ({}, {"weight_decay": 0.1, "amsgrad": True})),
        ({"lr": 0.01, "maximize": True}, ({"weight_decay": 0.0}, {"lr": 0.001, "betas": (0.5, 0.9)})),
    ],
    "RMSprop": [
        ({}, ({}, {"centered": True})),
        ({"lr": 0.01}, ({"momentum": 0.9}, {"centered": True, "momentum": 0.5, "weight_decay": 0.1})),
        ({"lr": 0.01, "maximize": True}, ({"alpha": 0.9}, {"eps": 1e-3, "centered": True})),
    ],
    "Adagrad": [
        ({"lr": 0.1}, ({}, {"lr_decay": 0.1})),
        ({"lr": 0.1, "initial_accumulator_value": 0.5}, ({"weight_decay": 0.1, "maximize": True}, {"eps": 1e-3})),
    ],
    "Adamax": [
        ({}, ({}, {"betas": (0.8, 0.9), "weight_decay": 0.1})),
        ({"lr": 0.01, "maximize": True}, ({"eps": 1e-3}, {"lr": 0.1})),
    ],
    "NAdam": [
        ({}, ({}, {"momentum_decay": 0.01})),
        (
            {"lr": 0.01},
            ({"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
        ),
    ],
    "RAdam": [
        ({}, ({}, {"weight_decay": 0.1})),
        (
            {"lr": 0.01},
            ({"decoupled_weight_decay": True, "weight_decay": 0.1}, {"maximize": True, "betas": (0.9, 0.99)}),
        ),
    ],
}
PARAMS = [(name, i) for name, cases in CASES.items() for i in range(len(cases))]
# the case of each optimizer with the most state (for the state dict and device tests)
FULL = {"SGD": 1, "Adam": 2, "AdamW": 0, "RMSprop": 1, "Adagrad": 1, "Adamax": 0, "NAdam": 1, "RAdam": 1}


@pytest.fixture
def torch_float64():
    """PyTorch's scalar state (step, NAdam's mu_product) in float64, as tensorweaver keeps it."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _values(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


def _grads(step: int) -> list[np.ndarray | None]:
    """The gradients of step ``step``: param 1 has none at step 2 (it is skipped; its step count lags)."""
    rng = np.random.default_rng(1000 + step)
    grads: list[np.ndarray | None] = [rng.standard_normal(s) for s in SHAPES]
    if step == 2:
        grads[1] = None
    return grads


def _groups(params, options):
    return [{"params": params[:2], **options[0]}, {"params": params[2:], **options[1]}]


def _tw_opt(name, case, device, values=None):
    defaults, options = CASES[name][case]
    params = [tw.tensor(v, device=device, requires_grad=True) for v in (values or _values())]
    return params, getattr(tw.optim, name)(_groups(params, options), **defaults)


def _torch_opt(name, case, values=None):
    defaults, options = CASES[name][case]
    params = [torch.tensor(v, requires_grad=True) for v in (values or _values())]
    return params, getattr(torch.optim, name)(_groups(params, options), foreach=False, **defaults)


def _set_grads(params, grads, device=None):
    for p, g in zip(params, grads, strict=True):
        if isinstance(p, tw.Tensor):
            p.grad = None if g is None else tw.tensor(g, device=device)
        else:
            p.grad = None if g is None else torch.tensor(g)


def _assert_close(tw_params, torch_params, rtol=1e-12):
    for i, (p, q) in enumerate(zip(tw_params, torch_params, strict=True)):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=rtol, atol=1e-14, err_msg=f"param {i}")


def _assert_same_state(tw_sd, torch_sd):
    assert sorted(tw_sd["state"]) == sorted(torch_sd["state"])
    for i, s in torch_sd["state"].items():
        assert sorted(tw_sd["state"][i]) == sorted(s), f"state {i}"
        for key, ref in s.items():
            np.testing.assert_allclose(
                tw_sd["state"][i][key].numpy(), ref.numpy(), rtol=1e-12, atol=1e-14, err_msg=f"state {i} {key}"
            )


def _to_device_in_place(t: tw.Tensor, device) -> None:
    """Move a tensor to ``device`` keeping the object, as nn.Module.to moves a Parameter."""
    moved = t.detach().to(device)
    t._data, t._backend = moved._data, moved._backend


# -- every optimizer and option against PyTorch -------------------------------------------------
@pytest.mark.parametrize("name,case", PARAMS)
def test_matches_torch(name, case, device, torch_float64):
    params, opt = _tw_opt(name, case, device)
    ref_params, ref = _torch_opt(name, case)
    for step in range(STEPS):
        grads = _grads(step)
        _set_grads(params, grads, device)
        _set_grads(ref_params, grads)
        assert opt.step() is None
        ref.step()
        _assert_close(params, ref_params)
    for p in params:
        assert p.device == tw.device(device) and p.dtype is tw.float64 and p.requires_grad
    for s in opt.state.values():
        for v in s.values():
            assert not isinstance(v, tw.Tensor) or v.device == tw.device(device)
    _assert_same_state(opt.state_dict(), ref.state_dict())


@pytest.mark.parametrize("name", list(CASES))
def test_defaults_match_torch(name):
    p = tw.tensor(np.ones(2), requires_grad=True)
    q = torch.ones(2, dtype=torch.float64, requires_grad=True)
    ours = getattr(tw.optim, name)([p]).defaults
    theirs = getattr(torch.optim, name)([q]).defaults
    extra = {"foreach", "fused", "capturable", "differentiable"}
    assert ours == {k: v for k, v in theirs.items() if k not in extra}


@pytest.mark.parametrize("name", list(CASES))
def test_repr_matches_torch(name):
    defaults, options = CASES[name][FULL[name]]
    _, opt = _tw_opt(name, FULL[name], "cpu")
    _, ref = _torch_opt(name, FULL[name])
    skip = ("foreach", "fused", "capturable", "differentiable")
    expected = "\n".join(line for line in repr(ref).split("\n") if not line.strip().startswith(skip))
    assert repr(opt) == expected


def test_float32_parameters_stay_float32(device):
    p = tw.tensor(np.ones(3, np.float32), device=device, requires_grad=True)
    opt = tw.optim.Adam([p], lr=0.1, amsgrad=True)
    p.grad = tw.tensor(np.array([1.0, -2.0, 3.0], np.float32), device=device)
    opt.step()
    assert p.dtype is tw.float32 and all(
        v.dtype is tw.float32 for v in opt.state[p].values() if isinstance(v, tw.Tensor)
    )
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 1.1, 0.9], rtol=1e-6)


# -- state dicts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip(name, device):
    case = FULL[name]
    params, opt = _tw_opt(name, case, device)
    for step in range(3):
        _set_grads(params, _grads(step), device)
        opt.step()
    sd = opt.state_dict()
    assert all(isinstance(k, int) for k in sd["state"])
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    if "step" in sd["state"][0]:
        assert sd["state"][0]["step"].device == tw.device("cpu") and sd["state"][0]["step"].item() == 3
    resumed, opt2 = _tw_opt(name, case, device, values=[p.detach().numpy() for p in params])
    opt2.load_state_dict(sd)
    for p, q in zip(params, resumed, strict=True):  # loading copies the state: the two optimizers share nothing
        for k, v in opt.state[p].items():
            if isinstance(v, tw.Tensor):
                assert opt2.state[q][k] is not v and opt2.state[q][k].device == tw.device(device)
    for step in range(3, 8):
        grads = _grads(step)
        _set_grads(params, grads, device)
        _set_grads(resumed, grads, device)
        opt.step()
        opt2.step()
    for p, q in zip(params, resumed, strict=True):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def _torch_sd_as_tw(sd):
    state = {
        i: {k: tw.tensor(v.numpy()) if torch.is_tensor(v) else v for k, v in s.items()} for i, s in sd["state"].items()
    }
    return {"state": state, "param_groups": copy.deepcopy(sd["param_groups"])}


@pytest.mark.parametrize("name", list(CASES))
def test_loads_torch_state_dict(name, device, torch_float64):
    case = FULL[name]
    ref_params, ref = _torch_opt(name, case)
    for step in range(3):
        _set_grads(ref_params, _grads(step))
        ref.step()
    params, opt = _tw_opt(name, case, device, values=[q.detach().numpy() for q in ref_params])
    torch_sd = ref.state_dict()
    opt.load_state_dict(_torch_sd_as_tw(torch_sd))
    for step in range(3, 8):
        grads = _grads(step)
        _set_grads(params, grads, device)
        _set_grads(ref_params, grads)
        opt.step()
        ref.step()
        _assert_close(params, ref_params)
    # and ours has PyTorch's layout: the same state keys per index, the same group keys
    ours, theirs = opt.state_dict(), ref.state_dict()
    _assert_same_state(ours, theirs)
    extra = {"foreach", "fused", "capturable", "differentiable"}
    for g, h in zip(ours["param_groups"], theirs["param_groups"], strict=True):
        assert set(g) == set(h) - extra and g["params"] == h["params"]


def test_load_state_dict_with_string_keys():
    """A state dict whose int keys became strings (a JSON round trip) loads the same."""
    params, opt = _tw_opt("Adam", 1, "cpu")
    _set_grads(params, _grads(0))
    opt.step()
    sd = opt.state_dict()
    sd = {"state": {str(k): v for k, v in sd["state"].items()}, "param_groups": sd["param_groups"]}
    resumed, opt2 = _tw_opt("Adam", 1, "cpu", values=[p.detach().numpy() for p in params])
    opt2.load_state_dict(sd)
    assert all(opt2.state[q]["step"] == 1 for q in resumed)


def test_torch_step_dtype_follows_default_dtype():
    """PyTorch keeps ``step`` in float32 unless the default dtype is float64; so does state_dict()."""
    p = tw.tensor(np.ones(2), requires_grad=True)
    opt = tw.optim.Adam([p])
    p.grad = tw.ones_like(p)
    opt.step()
    assert opt.state_dict()["state"][0]["step"].dtype is tw.float32
    tw.set_default_dtype(tw.float64)
    assert opt.state_dict()["state"][0]["step"].dtype is tw.float64
    q = torch.ones(2, dtype=torch.float64, requires_grad=True)
    ref = torch.optim.Adam([q])
    q.grad = torch.ones_like(q)
    ref.step()
    assert ref.state_dict()["state"][0]["step"].dtype is torch.float32  # torch's default is still float32
    opt.load_state_dict(_torch_sd_as_tw(ref.state_dict()))
    assert opt.state[p]["step"] == 1


def test_load_state_dict_errors_change_nothing():
    params, opt = _tw_opt("Adam", 1, "cpu")
    _set_grads(params, _grads(0))
    opt.step()
    good = opt.state_dict()
    before_groups, before_state = opt.param_groups, opt.state

    def broken(edit):
        sd = {
            "state": {i: dict(s) for i, s in good["state"].items()},
            "param_groups": copy.deepcopy(good["param_groups"]),
        }
        edit(sd)
        return sd

    with pytest.raises(ValueError, match=r"different number of parameter groups \(1, the optimizer has 2\)"):
        opt.load_state_dict(broken(lambda sd: sd["param_groups"].pop()))
    with pytest.raises(ValueError, match=r"doesn't match the size of optimizer's group \(group 1: 2 parameters saved"):
        opt.load_state_dict(broken(lambda sd: sd["param_groups"][1]["params"].append(3)))
    with pytest.raises(
        ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(4,\), but its parameter has shape \(3, 4\)"
    ):
        opt.load_state_dict(broken(lambda sd: sd["state"][0].update(exp_avg=tw.zeros(4, dtype=tw.float64))))
    with pytest.raises(TypeError, match=r"state\[1\]\['exp_avg_sq'\] is a torch.Tensor; make it a tensorweaver tensor"):
        opt.load_state_dict(broken(lambda sd: sd["state"][1].update(exp_avg_sq=torch.zeros(4))))
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        opt.load_state_dict(broken(lambda sd: sd["param_groups"][0].update(lr=-1)))
    with pytest.raises(ValueError, match=r"has 'state' and 'param_groups', got \['state'\]"):
        opt.load_state_dict({"state": {}})
    assert opt.param_groups is before_groups and opt.state is before_state


def test_adamw_load_keeps_decoupled_decay():
    p = tw.tensor(np.ones(2), requires_grad=True)
    opt = tw.optim.AdamW([p])
    sd = opt.state_dict()
    sd["param_groups"][0]["decoupled_weight_decay"] = False
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


def test_adagrad_state_made_at_construction_and_per_group_initial_value():
    a = tw.tensor(np.ones(2), requires_grad=True)
    b = tw.tensor(np.ones(3), requires_grad=True)
    opt = tw.optim.Adagrad(
        [{"params": [a]}, {"params": [b], "initial_accumulator_value": 2.0}], initial_accumulator_value=0.5
    )
    assert sorted(opt.state_dict()["state"]) == [0, 1]
    assert opt.state[a]["sum"].tolist() == [0.5, 0.5] and opt.state[b]["sum"].tolist() == [2.0, 2.0, 2.0]


# -- devices and host transfers -----------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_step_makes_no_host_transfer(name):
    strict = tw.backends.get_backend("strict")
    params, opt = _tw_opt(name, FULL[name], "strict")
    for step in range(3):
        _set_grads(params, _grads(step), "strict")
        before = strict.transfers
        opt.step()
        assert strict.transfers == before, f"step {step} copied between host and device"
    before = strict.transfers
    opt.zero_grad()
    assert strict.transfers == before


@pytest.mark.parametrize("name", list(CASES))
def test_state_follows_moved_parameter(name, torch_float64):
    case = FULL[name]
    params, opt = _tw_opt(name, case, "cpu")
    ref_params, ref = _torch_opt(name, case)
    strict = tw.backends.get_backend("strict")
    for step in range(6):
        grads = _grads(step)
        if step == 2:  # move parameters (and their grads from now on) after two steps
            for p in params:
                _to_device_in_place(p, "strict")
        device = "cpu" if step < 2 else "strict"
        _set_grads(params, grads, device)
        _set_grads(ref_params, grads)
        before = strict.transfers
        opt.step()
        ref.step()
        if step > 3:  # param 1 (no grad at step 2) has its state moved at step 3; then no copies
            assert strict.transfers == before
        for p in params:  # the state of a parameter moves when it is next updated
            for v in opt.state.get(p, {}).values() if p.grad is not None else ():
                assert not isinstance(v, tw.Tensor) or v.device == p.device
        _assert_close(params, ref_params)


# -- parameters, groups and bad input -------------------------------------------------------------
def test_param_forms():
    a = tw.tensor(np.ones(2), requires_grad=True)
    b = tw.tensor(np.ones(3), requires_grad=True)
    opt = tw.optim.SGD((p for p in [a, b]), lr=0.1)  # a generator, read once
    assert opt.param_groups[0]["params"] == [a, b] or opt.param_groups[0]["params"][1] is b
    opt = tw.optim.SGD([("w", a), ("b", b)], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    opt = tw.optim.SGD([{"params": a}, {"params": (p for p in [b]), "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5] and opt.param_groups[1]["momentum"] == 0
    group = {"params": [b]}
    opt = tw.optim.SGD([a], lr=0.1)
    opt.add_param_group(group)
    assert group == {"params": [b]}  # the caller's dict is not changed
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["params"][0] is b


def test_parameter_subclass():
    class Parameter(tw.Tensor):
        pass

    w = Parameter(np.ones(2), requires_grad=True)
    opt = tw.optim.Adam([w], lr=0.1, weight_decay=0.1)
    w.grad = tw.ones_like(w)
    opt.step()
    assert type(w) is Parameter
    np.testing.assert_allclose(w.detach().numpy(), [0.9, 0.9])


def test_skips_parameters_without_grad():
    a = tw.tensor(np.ones(2), requires_grad=True)
    b = tw.tensor(np.ones(2), requires_grad=True)
    opt = tw.optim.Adam([a, b], lr=0.1)
    a.grad = tw.ones_like(a)
    opt.step()
    assert b.tolist() == [1.0, 1.0] and b not in opt.state and opt.state[a]["step"] == 1


def test_sgd_without_momentum_keeps_no_state():
    a = tw.tensor(np.ones(2), requires_grad=True)
    opt = tw.optim.SGD([a], lr=0.1)
    a.grad = tw.ones_like(a)
    opt.step()
    assert opt.state_dict()["state"] == {} and a.tolist() == [0.9, 0.9]


@pytest.mark.parametrize(
    "params,error,message",
    [
        ([], ValueError, "optimizer got an empty parameter list"),
        ([1.0], TypeError, "optimizer can only optimize Tensors, but one of the params is float"),
        ([np.ones(2)], TypeError, "optimizer can only optimize Tensors, but one of the params is numpy.ndarray"),
        ([{"params": []}, {"params": [2]}], TypeError, "but one of the params is int"),
        ([("w",)], TypeError, "a named parameter must be a (name, tensor) pair, got a tuple of length 1"),
    ],
)
def test_bad_params(params, error, message):
    with pytest.raises(error, match=re.escape(message)):
        tw.optim.SGD(params, lr=0.1)


def test_bad_params_structure():
    a = tw.tensor(np.ones(2), requires_grad=True)
    b = tw.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(
        TypeError, match="should be an iterable of Tensors or dicts, but got tensorweaver.tensor.Tensor"
    ):
        tw.optim.SGD(a, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        tw.optim.SGD({a, b}, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        tw.optim.SGD([{"params": {a}}], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        tw.optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        tw.optim.SGD([{"params": [a]}, {"params": [b, a]}], lr=0.1)
    with pytest.raises(ValueError, match="Some param names are missing"):
        tw.optim.SGD([("a", a), b], lr=0.1)
    with pytest.raises(ValueError, match="cannot add param group without names"):
        tw.optim.SGD([{"params": [("a", a)]}, {"params": [b]}], lr=0.1)
    with pytest.raises(KeyError, match="'params'"):
        tw.optim.SGD([{"lr": 0.1}], lr=0.1)
    with pytest.raises(TypeError, match="param_group must be a dict, but got list"):
        tw.optim.SGD([a], lr=0.1).add_param_group([b])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        tw.optim.SGD([a, a], lr=0.1)
    opt = tw.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.5"):
        opt.add_param_group({"params": [b], "lr": -0.5})
    assert len(opt.param_groups) == 1
    with pytest.raises(TypeError, match="lr must be a Python number, got a Tensor"):
        tw.optim.SGD([a], lr=tw.tensor(0.1))
    # a non-leaf that retains its gradient can be optimized, as in PyTorch
    c = a * 2
    c.retain_grad()
    tw.optim.SGD([c], lr=0.1)


@pytest.mark.parametrize(
    "name,kwargs,message",
    [
        ("SGD", {"lr": -1}, "Invalid learning rate: -1"),
        ("SGD", {"momentum": -0.5}, "Invalid momentum value: -0.5"),
        ("SGD", {"weight_decay": -1e-3}, "Invalid weight_decay value: -0.001"),
        ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
        ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "Nesterov momentum requires"),
        ("Adam", {"lr": -1}, "Invalid learning rate: -1"),
        ("Adam", {"eps": -1}, "Invalid epsilon value: -1"),
        ("Adam", {"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0: 1.0"),
        ("Adam", {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        ("Adam", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
        ("AdamW", {"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1: 1.5"),
        ("RMSprop", {"alpha": -1}, "Invalid alpha value: -1"),
        ("RMSprop", {"momentum": -1}, "Invalid momentum value: -1"),
        ("RMSprop", {"eps": -1}, "Invalid epsilon value: -1"),
        ("Adagrad", {"lr_decay": -1}, "Invalid lr_decay value: -1"),
        ("Adagrad", {"initial_accumulator_value": -1}, "Invalid initial_accumulator_value value: -1"),
        ("Adagrad", {"eps": -1}, "Invalid epsilon value: -1"),
        ("Adamax", {"betas": (-0.1, 0.9)}, "Invalid beta parameter at index 0: -0.1"),
        ("NAdam", {"momentum_decay": -1}, "Invalid momentum_decay value: -1"),
        ("RAdam", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ],
)
def test_bad_options_as_torch(name, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(tw.optim, name)([tw.tensor(np.ones(2), requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):  # checked before the parameter list
        getattr(tw.optim, name)([], **kwargs)


def test_base_optimizer_needs_step():
    a = tw.tensor(np.ones(2), requires_grad=True)
    opt = tw.optim.Optimizer([a], {"lr": 0.1})
    a.grad = tw.ones_like(a)
    with pytest.raises(TypeError, match="must override step"):
        opt.step()


def test_custom_optimizer_subclass():
    """A PyTorch-style subclass (its own step under no_grad) works with the base class's machinery."""

    class SignSGD(tw.optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        @tw.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self.state[p]["n"] = self.state[p].get("n", 0) + 1
                        p.sub_(p.grad.sign(), alpha=group["lr"])

    a = tw.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = SignSGD([a])
    a.grad = tw.tensor(np.array([3.0, -1.0]))
    opt.step()
    assert a.tolist() == [0.9, 2.1] and opt.state_dict()["state"] == {0: {"n": 1}}


# -- zero_grad and closures ----------------------------------------------------------------------
def test_zero_grad(device):
    a = tw.tensor(np.ones(2), device=device, requires_grad=True)
    b = tw.tensor(np.ones(2), device=device, requires_grad=True)
    opt = tw.optim.SGD([a, b], lr=0.1)
    (a * b).sum().backward()
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    # a gradient made with create_graph=True is detached, then zeroed
    (a * a * b).sum().backward(create_graph=True)
    assert a.grad.grad_fn is not None
    opt.zero_grad(set_to_none=False)
    assert a.grad.grad_fn is None and a.grad.tolist() == [0.0, 0.0]


def test_closure_matches_torch(device, torch_float64):
    target = np.array([0.5, -1.0, 2.0])
    p = tw.tensor(np.zeros(3), device=device, requires_grad=True)
    q = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = tw.optim.SGD([p], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([q], lr=0.1, momentum=0.9)
    t_tw, t_torch = tw.tensor(target, device=device), torch.tensor(target)
    calls = []

    def closure():
        calls.append(tw.is_grad_enabled())
        opt.zero_grad()
        loss = ((p - t_tw) ** 2).sum()
        loss.backward()
        return loss

    def ref_closure():
        ref.zero_grad()
        loss = ((q - t_torch) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(4):
        with tw.no_grad():  # the closure still runs with grad mode on
            loss = opt.step(closure)
        ref_loss = ref.step(ref_closure)
        assert isinstance(loss, tw.Tensor)
        np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-12)
        _assert_close([p], [q])
    assert calls == [True] * 4
