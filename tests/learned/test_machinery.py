"""Figures 5-7: a learned optimizer meta-trained train-by-train or train-by-validation on digits.

Every learned-optimizer test shares one small configuration (``SMALL``), so JAX compiles the
inner loop once for the whole file.
"""
import gzip

import numpy as np
import pytest

from conftest import LEARNED_REPLICATES, LEARNED_SMALL
from l2lcore.learned import digits, experiment as learned

pytest.importorskip("jax")
pytest.importorskip("sklearn")

# The book's horizon with a smaller network and meta-training (tests/conftest.py: the runs are
# shared with the chapter's tests, tests/chapters/test_learned.py).
SMALL = LEARNED_SMALL
REPLICATES = LEARNED_REPLICATES


@pytest.fixture(scope="module")
def noisy_runs(learned_noisy_runs):
    return learned_noisy_runs


@pytest.fixture(scope="module")
def full_runs(learned_full_runs):
    return learned_full_runs


@pytest.fixture(scope="module")
def noisy(noisy_runs):
    """One replicate (seed 0), for the tests about the mechanism."""
    return noisy_runs[0]


# --- data ----------------------------------------------------------------------------------


def test_digits_corpus_is_split_into_pool_and_clean_test_set():
    c = digits.load("digits", seed=0)
    assert c.n_pool + len(c.y_test) == 1797 and c.n_features == 64
    assert 0.0 <= c.x_pool.min() and c.x_pool.max() <= 1.0
    again = digits.load("digits", seed=0)
    assert np.array_equal(c.y_pool, again.y_pool) and np.array_equal(c.x_test, again.x_test)


def test_smaller_splits_are_prefixes_of_larger_ones_with_the_same_noisy_labels():
    """TbT(n), TbT(2n) and TbV(n + n) of one seed train on the same first n samples."""
    c = digits.load("digits")
    a, b = digits.split(c, 100, 100, 0.3, seed=4), digits.split(c, 200, 0, 0.3, seed=4)
    assert np.array_equal(a.x_train, b.x_train[:100]) and np.array_equal(a.y_train, b.y_train[:100])
    assert np.array_equal(a.x_valid, b.x_train[100:]) and np.array_equal(a.y_valid, b.y_train[100:])


def test_label_noise_replaces_a_label_with_probability_p_by_a_uniform_one():
    """P(label changes) = p * 9/10, since the fresh label may equal the old one."""
    y = np.repeat(np.arange(10), 5000).astype(np.int32)
    noisy = digits.noisy_labels(y, 0.2, np.random.default_rng(0))
    assert abs(np.mean(noisy != y) - 0.2 * 0.9) < 0.01
    assert np.array_equal(digits.noisy_labels(y, 0.0, np.random.default_rng(0)), y)
    counts = np.bincount(digits.noisy_labels(y, 1.0, np.random.default_rng(1)), minlength=10)
    assert np.all(np.abs(counts / len(y) - 0.1) < 0.01)


def _write_idx(path, array, gz):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def _tiny_mnist(rng):
    return {"x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 30).astype(np.uint8),
            "x_test": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 12).astype(np.uint8)}


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_files(tmp_path, gz):
    arrays = _tiny_mnist(np.random.default_rng(0))
    for key, stem in digits._IDX_NAMES.items():
        _write_idx(tmp_path / (stem + (".gz" if gz else "")), arrays[key], gz)
    c = digits.load("mnist", mnist_path=tmp_path)
    assert c.x_pool.shape == (30, 784) and c.x_test.shape == (12, 784)
    np.testing.assert_allclose(c.x_pool * 255, arrays["x_train"].reshape(30, -1), atol=1e-4)
    assert np.array_equal(c.y_test, arrays["y_test"])


def test_mnist_from_npz(tmp_path):
    arrays = _tiny_mnist(np.random.default_rng(1))
    np.savez(tmp_path / "mnist.npz", **arrays)
    c = digits.load("mnist", mnist_path=str(tmp_path / "mnist.npz"))
    assert c.n_pool == 30 and np.array_equal(c.y_pool, arrays["y_train"])


def test_mnist_labels_must_be_integers(tmp_path):
    arrays = _tiny_mnist(np.random.default_rng(3))
    arrays["y_train"] = arrays["y_train"].astype(np.float64)
    arrays["y_train"][4] = 6.5
    np.savez(tmp_path / "frac.npz", **arrays)
    with pytest.raises(ValueError, match="labels must be integers.*6.5"):
        digits.load("mnist", mnist_path=tmp_path / "frac.npz")
    arrays["y_train"][4] = 6.0  # integer-valued floats are labels
    np.savez(tmp_path / "whole.npz", **arrays)
    assert digits.load("mnist", mnist_path=tmp_path / "whole.npz").y_pool[4] == 6
    arrays["y_train"] = np.array(["a"] * 30)
    np.savez(tmp_path / "text.npz", **arrays)
    with pytest.raises(ValueError, match="labels must be integers"):
        digits.load("mnist", mnist_path=tmp_path / "text.npz")


def _tiny_budget():
    return {"steps": 4, "unroll": 2, "record_every": 2, "meta_iters": 2, "tasks": 1, "hidden_layers": (8,),
            "sgd_grid": (0.01, 0.1)}


def test_run_comparison_end_to_end_on_tiny_mnist(tmp_path):
    """The whole pipeline (meta-training, SGD tuning, evaluation) on an MNIST .npz the test writes."""
    arrays = _tiny_mnist(np.random.default_rng(4))
    np.savez(tmp_path / "mnist.npz", **arrays)
    path = tmp_path / "mnist.npz"
    small = learned.run_comparison("mnist", n=5, noise=0.2, seeds=2, mnist_path=path, **_tiny_budget())
    assert small["config"]["dataset"] == "mnist" and small["config"]["network"] == (784, 8, 10)
    assert small["config"]["sizes"] == {"TbT(n)": (5, 0), "TbT(2n)": (10, 0), "TbV(n+n)": (5, 5)}
    assert 0.0 <= small["config"]["clean_label_frac"] <= 1.0
    for name in small["settings"]:
        assert small["curves"][name]["test_acc"].shape == (2, 2)
        assert np.all(np.isfinite(small["curves"][name]["test_loss"]))
    full = learned.run_comparison("mnist", n=None, seeds=2, mnist_path=path, **_tiny_budget())
    assert full["config"]["sizes"] == {"TbT": (30, 0), "TbV": (25, 5)}
    with pytest.raises(ValueError, match="too large"):
        learned.run_comparison("mnist", n=16, mnist_path=path, **_tiny_budget())


def test_mnist_test_set_larger_than_training_set(tmp_path):
    """Every set is padded to the larger of pool and test set, not to the pool."""
    rng = np.random.default_rng(5)
    arrays = {"x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 12).astype(np.uint8),
              "x_test": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 40).astype(np.uint8)}
    np.savez(tmp_path / "big_test.npz", **arrays)
    r = learned.run_comparison("mnist", n=None, seeds=1, mnist_path=tmp_path / "big_test.npz", **_tiny_budget())
    acc = r["final"]["TbT"]["test_acc"][0]
    assert 0.0 <= acc <= 1.0 and round(acc * 40) == pytest.approx(acc * 40, abs=1e-4)  # a fraction of 40
    with pytest.raises(ValueError, match="cannot pad"):
        learned._pad(np.zeros((5, 3)), np.zeros(5), 4)


def test_bad_mnist_paths_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="neither a folder"):
        digits.load("mnist", mnist_path=tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="has no train-images"):
        digits.load("mnist", mnist_path=tmp_path)
    arrays = _tiny_mnist(np.random.default_rng(2))
    for key, stem in digits._IDX_NAMES.items():
        _write_idx(tmp_path / stem, arrays[key], False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x1e\x01")
    with pytest.raises(ValueError, match="header declares"):
        digits.load("mnist", mnist_path=tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        digits.load("mnist", mnist_path=tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="needs mnist_path"):
        digits.load("mnist")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"noise": 1.5}, "noise"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"n": 700}, "too large"),
        ({"n": 0}, "n must"),
        ({"dataset": "cifar"}, "unknown dataset"),
        ({"dataset": "mnist", "mnist_path": "/nonexistent/mnist"}, "neither a folder"),
        ({"scale": "huge"}, "unknown scale"),
        ({"seeds": 0}, "seeds"),
        ({"noise": "0.2"}, "noise"),
        ({"noise": True}, "noise"),
        ({"seed": 1.5}, "seed must"),
        ({"seed": -1}, "seed must"),
        ({"seed": True}, "seed must"),
        ({"steps": 30}, "multiple"),
        ({"warp": 3}, "unknown budget"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        learned.run_comparison(**kwargs)


def test_bad_meta_gradient_arguments_are_value_errors():
    with pytest.raises(ValueError, match="unroll"):
        learned.meta_gradient_norms(unrolls=(0, 4))
    with pytest.raises(ValueError, match="step_sizes"):
        learned.meta_gradient_norms(step_sizes=(-0.1,))
    with pytest.raises(ValueError, match="exceeds"):
        learned.meta_gradient_norms(n=5000)
    with pytest.raises(ValueError, match="seed must"):
        learned.meta_gradient_norms(seed=-1)


def test_bad_replicate_arguments_are_value_errors(noisy_runs, full_runs):
    with pytest.raises(ValueError, match="replicates"):
        learned.run_replicates(replicates=0)
    with pytest.raises(ValueError, match="seed must"):
        learned.run_replicates(seed=-2)
    with pytest.raises(ValueError, match="distinct seeds"):
        learned.pool_replicates([noisy_runs[0], noisy_runs[0]])
    with pytest.raises(ValueError, match="same comparison"):
        learned.pool_replicates([noisy_runs[0], full_runs[1]])
    with pytest.raises(ValueError, match="non-empty"):
        learned.pool_replicates([])
    with pytest.raises(ValueError, match="no setting"):
        learned.compare(learned.pool_replicates(noisy_runs), "TbV", "TbT")


# --- the learned optimizer -----------------------------------------------------------------


def test_untrained_optimizer_is_sgd_with_step_eta0():
    """Output layer at zero: w_1 = w_0 - eta0 * g, whatever the features."""
    import jax

    spec, b = learned.OptimizerSpec(), learned.budget("book", **SMALL)
    net = learned.Network((64, 32, 10))
    c = digits.load("digits")
    data = learned._data(c.x_pool, c.y_pool, c.x_pool, c.y_pool, c.x_test, c.y_test, c.n_pool)
    theta = learned.init_optimizer(spec, 0)
    state = learned._init_state(spec, net, jax.random.PRNGKey(0))
    x, y = learned._sample(data, "train", jax.random.PRNGKey(1), b.batch)
    new = learned._inner_step(spec, b, net, theta, state, x, y, 1.0)
    g = jax.grad(learned._loss, argnums=1)(net, state["w"], x, y)
    np.testing.assert_allclose(new["w"], state["w"] - spec.base_step * g, rtol=1e-5, atol=1e-7)


def test_result_layout(noisy):
    assert noisy["settings"] == ("TbT(n)", "TbT(2n)", "TbV(n+n)", "SGD")
    r = len(noisy["steps"])
    assert noisy["steps"][-1] == SMALL["steps"]
    for name in noisy["settings"]:
        for key in ("train_acc", "test_acc", "train_loss", "test_loss"):
            assert noisy["curves"][name][key].shape == (5, r)
            assert np.all(np.isfinite(noisy["curves"][name][key]))
        assert isinstance(noisy["summary"][name]["test_acc_mean"], float)
    assert noisy["meta"]["TbV(n+n)"]["loss"].shape == (SMALL["meta_iters"],)
    assert noisy["sgd"]["step"] in noisy["sgd"]["grid"]
    assert noisy["config"]["sizes"] == {"TbT(n)": (300, 0), "TbT(2n)": (600, 0), "TbV(n+n)": (300, 300)}


def test_runs_are_deterministic(noisy):
    again = learned.run_comparison("digits", n=300, noise=0.2, seeds=5, **SMALL)
    for name in noisy["settings"]:
        assert np.array_equal(noisy["curves"][name]["test_acc"], again["curves"][name]["test_acc"])


def test_meta_gradient_norms_shape():
    g = learned.meta_gradient_norms(unrolls=(1, 2, 4), step_sizes=(0.05, 0.5), runs=2, **SMALL)
    assert g.shape == (2, 2, 3) and np.all(np.isfinite(g)) and np.all(g > 0)


def test_replicates_are_independent_seeds_and_pool_correctly(noisy_runs):
    assert [r["config"]["seed"] for r in noisy_runs] == list(range(REPLICATES))
    p = learned.pool_replicates(noisy_runs)
    assert p["replicates"] == REPLICATES and p["spread_kind"] == "replicate means"
    for name in p["settings"]:
        per = np.array([r["final"][name]["test_acc"].mean() for r in noisy_runs])
        np.testing.assert_allclose(p["test_acc"][name], per)
        assert p["mean"][name] == pytest.approx(per.mean())
        assert p["spread"][name] == pytest.approx(per.max() - per.min())
        assert p["curves"][name]["test_acc"].shape == (REPLICATES * 5, len(p["steps"]))
    # different seeds redraw the data and the meta-training: the replicates differ
    assert not np.array_equal(noisy_runs[0]["curves"]["TbV(n+n)"]["test_acc"],
                              noisy_runs[1]["curves"]["TbV(n+n)"]["test_acc"])
    c = learned.compare(p, "TbV(n+n)", "TbT(n)")
    assert c["spread"] == max(p["spread"]["TbV(n+n)"], p["spread"]["TbT(n)"])
    rows = learned.replicate_rows(p, "TbV(n+n)", "TbT(n)")
    assert [r["seed"] for r in rows] == list(range(REPLICATES))
    np.testing.assert_allclose([r["gap"] for r in rows], c["gaps"])
    assert all(r["beyond"] == (r["gap"] > r["run_range"]) for r in rows)
    # a single replicate falls back to the spread of its evaluation runs
    one = learned.pool_replicates(noisy_runs[0])
    assert one["spread_kind"] == "evaluation runs"
    assert one["spread"]["TbT(n)"] == noisy_runs[0]["summary"]["TbT(n)"]["test_acc_range"]


def test_noise_ceiling_is_the_share_of_correct_training_labels(noisy):
    frac = noisy["config"]["clean_label_frac"]
    assert abs(frac - (1 - 0.9 * 0.2)) < 0.06  # 300 labels, each wrong with probability 0.18


def test_norm_growth_summaries():
    unrolls = (1, 2, 4, 8)
    norms = np.array([[[1.0, 1.0, 3.0, 6.0]], [[2.0, 2.0, 2.5, 3.0]]])  # (steps, runs, unrolls)
    g = learned.norm_growth(norms, unrolls, start=2)
    np.testing.assert_allclose(g["ratio"], [6.0, 1.5])
    assert list(g["onset"]) == [4, 0] and g["start"] == 2
    assert g["ratio_of_ratios"] == pytest.approx(0.25)
    np.testing.assert_allclose(g["slopes"][0], np.log2([1.0, 3.0, 2.0]))
    with pytest.raises(ValueError, match="positive finite"):
        learned.norm_growth(np.zeros((2, 1, 4)), unrolls)
