"""tw.Generator, seeding and the random functions: streams repeat with a seed, on every device, and
the samplers follow their distributions (chi-square tests with fixed seeds)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import tensorweaver as tw

# upper 0.1% points of the chi-square distribution (scipy.stats.chi2.ppf(0.999, df))
CHI2_999 = {3: 16.266, 4: 18.467, 5: 20.515}


def chi_square(counts, expected) -> float:
    counts, expected = np.asarray(counts, float), np.asarray(expected, float)
    return float(((counts - expected) ** 2 / expected).sum())


def draws(device, generator):
    """One of every random function, from ``generator`` on ``device``."""
    probs = tw.tensor([[0.2, 0.3, 0.5], [0.6, 0.0, 0.4]], device=device)
    return [
        tw.rand(2, 3, generator=generator, device=device).tolist(),
        tw.randn(4, generator=generator, device=device).tolist(),
        tw.randint(0, 100, (5,), generator=generator, device=device).tolist(),
        tw.randperm(7, generator=generator, device=device).tolist(),
        tw.multinomial(probs, 2, generator=generator).tolist(),
        tw.multinomial(probs, 4, replacement=True, generator=generator).tolist(),
        tw.normal(tw.zeros(3, device=device), 2.0, generator=generator).tolist(),
        tw.normal(0.0, 1.0, (2,), generator=generator, device=device).tolist(),
        tw.bernoulli(tw.full((6,), 0.5, device=device), generator=generator).tolist(),
    ]


# -- Generator ---------------------------------------------------------------------------------------
def test_new_generator_starts_from_pytorchs_default_seed(device):
    g = tw.Generator(device)
    assert g.initial_seed() == 67280421310721
    assert g.device == device
    assert draws(device, g) == draws(device, tw.Generator(device))


def test_seeded_generators_repeat_and_differ_by_seed(device):
    g = tw.Generator(device)
    assert g.manual_seed(7) is g
    first = draws(device, g)
    assert draws(device, g) != first  # the stream moves on
    assert draws(device, g.manual_seed(7)) == first
    assert draws(device, tw.Generator(device).manual_seed(8)) != first


def test_seed_is_fresh_and_becomes_the_initial_seed(device):
    g = tw.Generator(device)
    s = g.seed()
    assert isinstance(s, int) and 0 <= s < 2**64 and g.initial_seed() == s
    assert s != tw.Generator(device).seed()
    assert draws(device, g) == draws(device, tw.Generator(device).manual_seed(s))


def test_get_state_set_state_round_trip(device):
    g = tw.Generator(device).manual_seed(3)
    tw.rand(5, generator=g, device=device)
    state = g.get_state()
    assert state.dtype is tw.uint8 and state.device == "cpu" and state.ndim == 1
    after = draws(device, g)
    h = tw.Generator(device)
    assert h.set_state(state) is h
    assert h.initial_seed() == 3
    assert draws(device, h) == after
    assert draws(device, g.set_state(state)) == after  # and back on the same generator


def test_set_state_rejects_other_states(device):
    g = tw.Generator(device)
    with pytest.raises(TypeError, match="uint8"):
        g.set_state(tw.zeros(45))
    with pytest.raises(TypeError, match="uint8"):
        g.set_state(bytes(45))
    with pytest.raises(RuntimeError, match="state size to be 3"):
        g.set_state(tw.zeros(3, dtype=tw.uint8))
    assert g.initial_seed() == 67280421310721  # unchanged


def test_generator_pickles_with_its_state():
    g = tw.Generator().manual_seed(11)
    tw.rand(3, generator=g)
    h = pickle.loads(pickle.dumps(g))
    assert h.initial_seed() == 11
    assert tw.rand(4, generator=h).tolist() == tw.rand(4, generator=g).tolist()


def test_seed_values_follow_pytorch():
    g = tw.Generator()
    assert g.manual_seed(-1).initial_seed() == 2**64 - 1
    assert g.manual_seed(2**64 - 1).initial_seed() == 2**64 - 1
    with pytest.raises(ValueError, match="out of range"):
        g.manual_seed(2**64)
    with pytest.raises(RuntimeError, match="expected a long, but got float"):
        g.manual_seed(1.5)
    with pytest.raises(RuntimeError, match="expected a long"):
        tw.manual_seed(True)


def test_generator_on_another_device_is_an_error_naming_both():
    g = tw.Generator("cpu")
    with pytest.raises(RuntimeError, match="Expected a 'strict' device type for generator but found 'cpu'"):
        tw.rand(3, generator=g, device="strict")
    with pytest.raises(RuntimeError, match="'strict' device type for generator but found 'cpu'"):
        tw.multinomial(tw.ones(3, device="strict"), 1, generator=g)
    with pytest.raises(RuntimeError, match="'strict' device type"):
        tw.randperm(3, generator=g, device="strict")
    with pytest.raises(TypeError, match="tw.Generator"):
        tw.rand(3, generator=3)


# -- default generators and tw.manual_seed --------------------------------------------------------------
def test_manual_seed_seeds_every_devices_default_generator(device):
    assert tw.manual_seed(5) is tw.default_generator
    assert tw.default_generator.device == "cpu" and tw.initial_seed() == 5
    dev_first, cpu_next = tw.rand(4, device=device).tolist(), tw.rand(4).tolist()
    # the default generator is a Generator like any other: seeded alike, it gives the same numbers
    assert tw.rand(4, generator=tw.Generator(device).manual_seed(5), device=device).tolist() == dev_first
    tw.manual_seed(5)
    assert tw.rand(4, device=device).tolist() == dev_first
    assert tw.rand(4).tolist() == cpu_next


def test_module_seed_and_rng_state():
    s = tw.seed()
    assert tw.initial_seed() == s
    state = tw.get_rng_state()
    a = tw.randn(5).tolist()
    tw.set_rng_state(state)
    assert tw.randn(5).tolist() == a
    assert tw.random.manual_seed is tw.manual_seed and tw.random.Generator is tw.Generator


def test_default_seed_is_fresh_per_process_and_import_does_not_load_numpy_random():
    code = (
        "import sys, tensorweaver as tw; tw.Generator().manual_seed(1); "
        "print('numpy.random' in sys.modules, tw.initial_seed(), tw.rand(2).tolist(), 'numpy.random' in sys.modules)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in "ab"
    ]
    assert runs[0] != runs[1]
    for out in runs:
        assert out.startswith("False ") and out.rstrip().endswith(" True")  # numpy.random only once drawn


# -- the functions -------------------------------------------------------------------------------------
def test_results_live_on_the_device_with_the_dtypes_asked_for(device):
    g = tw.Generator(device)
    assert tw.rand(2, generator=g, device=device, dtype=tw.float64).dtype is tw.float64
    assert tw.randn(2, 2, generator=g, device=device).dtype is tw.float32
    assert tw.randint(3, (4,), generator=g, device=device, dtype=tw.int32).dtype is tw.int32
    for t in [
        tw.rand(2, generator=g, device=device),
        tw.randperm(3, generator=g, device=device),
        tw.multinomial(tw.ones(3, device=device), 2, generator=g),
        tw.bernoulli(tw.zeros(2, device=device), generator=g),
        tw.normal(tw.zeros(2, device=device), tw.ones(2, device=device), generator=g),
    ]:
        assert t.device == device and not t.requires_grad
    assert tw.rand(2, device=device, requires_grad=True).requires_grad


def test_draws_are_in_range(device):
    g = tw.Generator(device).manual_seed(0)
    u = tw.rand(10000, generator=g, device=device).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    z = tw.randn(10000, generator=g, device=device, dtype=tw.float64).numpy()
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    k = tw.randint(-3, 4, (10000,), generator=g, device=device).numpy()
    assert k.dtype == np.int64 and set(k.tolist()) == set(range(-3, 4))


def test_rand_dtypes():
    assert tw.rand(3, dtype=tw.float16).dtype is tw.float16
    with pytest.raises(TypeError, match="floating-point dtype, got tensorweaver.int64"):
        tw.rand(3, dtype=tw.int64)
    with pytest.raises(RuntimeError, match="from=5 >= to=5"):
        tw.randint(5, 5, (2,))


def test_like_functions_take_shape_dtype_and_device(device):
    x = tw.zeros(2, 3, dtype=tw.float64, device=device)
    for t in (tw.rand_like(x), tw.randn_like(x)):
        assert t.shape == (2, 3) and t.dtype is tw.float64 and t.device == device
    r = tw.randint_like(x, 10)
    assert r.dtype is tw.float64 and r.device == device and set(r.numpy().ravel()) <= set(range(10))
    r = tw.randint_like(tw.zeros(1000, dtype=tw.int64), 5, 8)
    assert set(r.tolist()) == {5, 6, 7}


def test_randperm(device):
    g = tw.Generator(device).manual_seed(2)
    p = tw.randperm(50, generator=g, device=device)
    assert p.dtype is tw.int64 and sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))
    assert tw.randperm(0, device=device).shape == (0,)
    assert tw.randperm(4, dtype=tw.float32, device=device).dtype is tw.float32
    with pytest.raises(RuntimeError, match="non-negative, got -1"):
        tw.randperm(-1)


def test_randperm_is_uniform():
    g = tw.Generator().manual_seed(0)
    counts: dict = {}
    for _ in range(6000):
        key = tuple(tw.randperm(3, generator=g).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6 and chi_square(list(counts.values()), [1000] * 6) < CHI2_999[5]


# -- multinomial ---------------------------------------------------------------------------------------------
def test_multinomial_with_replacement_follows_the_distribution(device):
    g = tw.Generator(device).manual_seed(0)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    s = tw.multinomial(tw.tensor(p * 5, device=device), 20000, replacement=True, generator=g)  # unnormalized
    assert s.shape == (20000,) and s.dtype is tw.int64 and s.device == device
    assert chi_square(np.bincount(s.numpy(), minlength=4), 20000 * p) < CHI2_999[3]


def test_multinomial_rows_each_follow_their_own_distribution(device):
    g = tw.Generator(device).manual_seed(1)
    p = np.array([[0.0, 0.5, 0.0, 0.5, 0.0], [0.7, 0.1, 0.1, 0.05, 0.05], [0.2] * 5])
    s = tw.multinomial(tw.tensor(p, dtype=tw.float32, device=device), 10000, replacement=True, generator=g).numpy()
    assert s.shape == (3, 10000)
    assert set(np.unique(s[0]).tolist()) == {1, 3}  # zero-weight categories never come
    assert chi_square(np.bincount(s[0], minlength=5)[[1, 3]], [5000, 5000]) < CHI2_999[3]
    for row in (1, 2):
        assert chi_square(np.bincount(s[row], minlength=5), 10000 * p[row]) < CHI2_999[4]


def test_multinomial_without_replacement_follows_sequential_sampling(device):
    # P(first = i, second = j) = p_i * p_j / (1 - p_i) when each draw removes its category
    g = tw.Generator(device).manual_seed(2)
    p = np.array([0.5, 0.3, 0.2])
    rows = tw.tensor(np.tile(p, (12000, 1)), device=device)
    s = tw.multinomial(rows, 2, generator=g).numpy()
    assert s.shape == (12000, 2) and (s[:, 0] != s[:, 1]).all()
    pairs = [(i, j) for i in range(3) for j in range(3) if i != j]
    counts = [int(((s[:, 0] == i) & (s[:, 1] == j)).sum()) for i, j in pairs]
    expected = [12000 * p[i] * p[j] / (1 - p[i]) for i, j in pairs]
    assert chi_square(counts, expected) < CHI2_999[5]


def test_multinomial_without_replacement_takes_all_and_puts_zero_weights_last(device):
    s = tw.multinomial(tw.tensor([0.0, 2.0, 0.0, 1.0], device=device), 4).tolist()
    assert sorted(s) == [0, 1, 2, 3] and set(s[:2]) == {1, 3}
    one = tw.multinomial(tw.tensor([[1.0, 0.0, 0.0]], device=device), 1, replacement=True)
    assert one.shape == (1, 1) and one.tolist() == [[0]]


def test_multinomial_is_repeatable_with_a_seed(device):
    p = tw.rand(4, 30, device=device)
    for replacement in (False, True):
        a = tw.multinomial(p, 10, replacement, generator=tw.Generator(device).manual_seed(9)).tolist()
        b = tw.multinomial(p, 10, replacement, generator=tw.Generator(device).manual_seed(9)).tolist()
        assert a == b


def test_multinomial_makes_no_host_copy_on_a_device():
    b = tw.backends.get_backend("strict")
    p = tw.rand(3, 10, device="strict")
    g = tw.Generator("strict")
    before = b.transfers
    tw.multinomial(p, 4, generator=g)
    tw.multinomial(p, 4, replacement=True, generator=g)
    # one counted copy per draw of uniforms (a registered backend draws on the host); nothing else
    assert b.transfers - before == 2


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((tw.tensor([0.0, 0.0]), 1), RuntimeError, r"invalid multinomial distribution \(sum of probabilities <= 0\)"),
        ((tw.tensor([[1.0, 1.0], [0.0, 0.0]]), 1), RuntimeError, "sum of probabilities <= 0"),
        ((tw.tensor([-0.5, 0.5]), 1), RuntimeError, "contains either `inf`, `nan` or element < 0"),
        ((tw.tensor([1.0, float("inf")]), 1), RuntimeError, "`inf`, `nan`"),
        ((tw.tensor([1.0, float("nan")]), 1), RuntimeError, "`inf`, `nan`"),
        ((tw.tensor([0.5, 0.5]), 3), RuntimeError, "cannot sample n_sample > prob_dist.size"),
        ((tw.tensor([0.5, 0.5]), 0), RuntimeError, "cannot sample n_sample <= 0 samples"),
        ((tw.tensor(0.5), 1), RuntimeError, "prob_dist must be 1 or 2 dim"),
        ((tw.ones(2, 2, 2), 1), RuntimeError, "prob_dist must be 1 or 2 dim"),
        (
            (tw.tensor([1, 2]), 1),
            RuntimeError,
            "only supports floating-point dtypes for input, got: tensorweaver.int64",
        ),
        ((tw.ones(3, 0), 1, True), RuntimeError, "no categories"),
    ],
)
def test_multinomial_errors(args, error, match):
    with pytest.raises(error, match=match):
        tw.multinomial(*args)


def test_multinomial_agrees_with_pytorch_in_distribution():
    torch = pytest.importorskip("torch")
    p = np.array([0.05, 0.15, 0.3, 0.5])
    ours = np.bincount(
        tw.multinomial(tw.tensor(p), 8000, True, generator=tw.Generator().manual_seed(4)).numpy(), minlength=4
    )
    torch.manual_seed(4)
    theirs = np.bincount(torch.multinomial(torch.tensor(p), 8000, True).numpy(), minlength=4)
    # two samples of one distribution: the 2 x 4 contingency table's chi-square, 3 degrees of freedom
    table = np.stack([ours, theirs]).astype(float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    assert chi_square(table, expected) < CHI2_999[3]


# -- normal and bernoulli -------------------------------------------------------------------------------
def test_normal_forms_and_statistics(device):
    g = tw.Generator(device).manual_seed(0)
    mean = tw.tensor([[-5.0], [5.0]], dtype=tw.float64, device=device)
    std = tw.tensor([0.5, 1.0, 2.0] * 1000, device=device)  # float32 with float64 mean: float64
    z = tw.normal(mean, std, generator=g)
    assert z.shape == (2, 3000) and z.dtype is tw.float64 and z.device == device
    a = z.numpy().reshape(2, 1000, 3)
    np.testing.assert_allclose(a.mean(axis=1), [[-5] * 3, [5] * 3], atol=0.2)
    np.testing.assert_allclose(a.std(axis=1), [[0.5, 1, 2]] * 2, rtol=0.1)
    assert tw.normal(3.0, tw.ones(2, device=device), generator=g).shape == (2,)
    assert tw.normal(0.0, 2.0, (3, 2), generator=g, device=device, dtype=tw.float64).dtype is tw.float64


def test_normal_errors():
    with pytest.raises(RuntimeError, match="normal expects std >= 0.0, but found std -1"):
        tw.normal(0.0, -1.0, (2,))
    with pytest.raises(RuntimeError, match="all elements of std >= 0.0"):
        tw.normal(tw.zeros(2), -tw.ones(2))
    with pytest.raises(TypeError, match="needs a size"):
        tw.normal(0.0, 1.0)
    with pytest.raises(RuntimeError, match="share a device"):
        tw.normal(tw.zeros(2), tw.ones(2, device="strict"))


def test_bernoulli(device):
    g = tw.Generator(device).manual_seed(0)
    p = tw.tensor([0.0, 0.25, 1.0] * 4000, dtype=tw.float64, device=device)
    s = tw.bernoulli(p, generator=g)
    assert s.dtype is tw.float64 and s.device == device
    a = s.numpy().reshape(4000, 3)
    assert set(np.unique(a).tolist()) <= {0.0, 1.0}
    assert a[:, 0].sum() == 0 and a[:, 2].sum() == 4000 and abs(a[:, 1].mean() - 0.25) < 0.03
    assert abs(tw.bernoulli(p, 0.9, generator=g).numpy().mean() - 0.9) < 0.02


def test_bernoulli_errors():
    with pytest.raises(RuntimeError, match=r"in \[0, 1\]"):
        tw.bernoulli(tw.tensor([1.5]))
    with pytest.raises(RuntimeError, match="floating point"):
        tw.bernoulli(tw.tensor([1, 0]))
    with pytest.raises(RuntimeError, match="p must be in"):
        tw.bernoulli(tw.zeros(2), 2.0)
