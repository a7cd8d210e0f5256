"""Figures 5-7: a learned optimizer meta-trained train-by-train or train-by-validation on digits.

Every learned-optimizer test shares one small configuration (``SMALL``), so JAX compiles the
inner loop once for the whole file.
"""
import gzip

import numpy as np
import pytest

from l2lcore import digits, learned

pytest.importorskip("jax")
pytest.importorskip("sklearn")

# The book's horizon with a smaller network and meta-training; noise, n and claims are the chapter's.
SMALL = {"steps": 400, "unroll": 20, "record_every": 40, "meta_iters": 40, "tasks": 1, "hidden_layers": (32,)}


@pytest.fixture(scope="module")
def noisy():
    return learned.run_comparison("digits", n=300, noise=0.2, seeds=5, **SMALL)


@pytest.fixture(scope="module")
def full():
    return learned.run_comparison("digits", n=None, noise=0.0, seeds=5, **SMALL)


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
    key = jax.random.PRNGKey(1)
    new = learned._inner_step(spec, b, net, theta, state, data, key, 1.0)
    g = jax.grad(learned._batch_loss, argnums=1)(net, state["w"], data["x_train"], data["y_train"],
                                                 data["n_train"], key, b.batch)
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


def test_chapter_claims_hold(noisy, full):
    """TbV beats both TbTs beyond the run-to-run spread under 20% label noise; with all data they tie."""
    claims = learned.learned_claims(noisy, full)
    assert len(claims) == 3
    for c in claims:
        assert c.holds, f"{c.claim}: {c.measured}"
