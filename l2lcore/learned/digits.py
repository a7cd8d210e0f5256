"""Handwritten-digit data for the learned-optimizer experiments (paper Figures 5-7).

Two sources, one layout. :func:`load` returns a :class:`Corpus`: a pool of labelled images
that training and validation samples are drawn from, and a test set that is never trained on.

* ``"digits"``: the 1797 8x8 digits that ship inside scikit-learn (no download). The corpus
  is split once, by a seed, into a pool and a test set.
* ``"mnist"``: MNIST read from local files whose path the reader gives: either a folder with
  the four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally ``.gz``), or one
  ``.npz`` with arrays ``x_train, y_train, x_test, y_test`` (the layout Keras uses). The pool is
  the 60000 training images and the test set the 10000 test images.

Pixels are scaled to [0, 1] and flattened; labels are integers 0..9.
"""
from __future__ import annotations

import gzip
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from .. import _checks

DATASETS = ("digits", "mnist")
N_CLASSES = 10
#: Images of the scikit-learn corpus held out for testing (a third of 1797).
DIGITS_TEST = 597

_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class Corpus:
    """Images ``x`` (N x D, float32 in [0, 1]) and labels ``y`` (N, int32) of a pool and a test set."""

    name: str
    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_pool(self) -> int:
        return len(self.y_pool)

    @property
    def n_features(self) -> int:
        return self.x_pool.shape[1]


@dataclass(frozen=True)
class Split:
    """The samples one experiment sees: training and validation drawn from the pool, and the test set.

    ``y_train`` and ``y_valid`` carry the label noise; ``y_test`` is always clean.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load(dataset: str = "digits", mnist_path=None, seed: int = 0) -> Corpus:
    """The corpus named ``dataset``; ``seed`` fixes the pool/test split of ``"digits"``."""
    seed = _checks.seed_int(seed)
    check_mnist_path(mnist_path)
    if not isinstance(dataset, str):
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    if dataset == "digits":
        if mnist_path is not None:
            raise ValueError("mnist_path is only used with dataset='mnist'")
        return _load_digits(seed)
    if dataset == "mnist":
        if mnist_path is None:
            raise ValueError("dataset='mnist' needs mnist_path: a folder of IDX files or an .npz file")
        return load_mnist(mnist_path)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")


def check_mnist_path(path):
    """None, or a path (a string or os.PathLike) to MNIST files."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"mnist_path must be a path (a string or os.PathLike), got {type(path).__name__}")
    return path


def _load_digits(seed: int) -> Corpus:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # pixel intensities are integers 0..16
    y = bunch.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    test, pool = order[:DIGITS_TEST], order[DIGITS_TEST:]
    return Corpus("digits", x[pool], y[pool], x[test], y[test])


def read_idx(path) -> np.ndarray:
    """One IDX file (plain or gzip) as an array of the shape its header declares."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read IDX file {path!r}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path!r} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path!r} is truncated: its header is incomplete")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(f"{path!r} holds {len(raw) - header} data bytes, its header declares shape {shape}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_mnist(path) -> Corpus:
    """MNIST from a folder of IDX files (plain or .gz) or from one .npz file. Train and test
    images must have the same size."""
    if path is None:
        raise ValueError("mnist_path must be a path (a string or os.PathLike), got None")
    path = os.fspath(check_mnist_path(path))
    if os.path.isdir(path):
        arrays = {}
        for key, stem in _IDX_NAMES.items():
            found = [os.path.join(path, stem + ext) for ext in ("", ".gz")
                     if os.path.isfile(os.path.join(path, stem + ext))]
            if not found:
                raise ValueError(f"MNIST folder {path!r} has no {stem} (or {stem}.gz)")
            arrays[key] = read_idx(found[0])
    elif os.path.isfile(path) and path.endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in _IDX_NAMES if k in z.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:  # not an .npz archive
            raise ValueError(f"cannot read MNIST file {path!r}: {e}") from None
        missing = [k for k in _IDX_NAMES if k not in arrays]
        if missing:
            raise ValueError(f"MNIST file {path!r} lacks arrays {missing}")
    else:
        raise ValueError(f"mnist_path {path!r} is neither a folder of IDX files nor an existing .npz file")
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"MNIST {part} images {x.shape} and labels {y.shape} do not match")
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)) \
                or not np.all(np.isfinite(x)):
            raise ValueError(f"MNIST {part} images must be finite numbers, got dtype {x.dtype}")
        if len(y) == 0 or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
            raise ValueError(f"MNIST {part} labels must be integers 0..{N_CLASSES - 1}, got dtype {y.dtype}")
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            bad = y[~(np.isfinite(y) & (y == np.round(y)))][0]
            raise ValueError(f"MNIST {part} labels must be integers 0..{N_CLASSES - 1}, found {bad!r}")
        if y.min() < 0 or y.max() >= N_CLASSES:
            raise ValueError(f"MNIST {part} labels must be integers 0..{N_CLASSES - 1}, "
                             f"found values from {y.min()} to {y.max()}")

    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ValueError(f"MNIST train images {arrays['x_train'].shape[1:]} and test images "
                         f"{arrays['x_test'].shape[1:]} differ in size (mnist_path {path!r})")

    def images(x):
        x = x.reshape(len(x), -1).astype(np.float32)
        return x / 255.0 if x.max() > 1.0 else x  # uint8 pixels; already-scaled files pass through

    return Corpus("mnist", images(arrays["x_train"]), arrays["y_train"].astype(np.int32),
                  images(arrays["x_test"]), arrays["y_test"].astype(np.int32))


def noisy_labels(y: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Each label replaced, with probability p, by one drawn uniformly from all 10 (possibly itself)."""
    p = check_noise(p, "p")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {rng!r}")
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype == np.bool_ or y.dtype.kind not in "iu" or (
            y.size and (y.min() < 0 or y.max() >= N_CLASSES)):
        raise ValueError(f"y must be a 1-d array of integer labels 0..{N_CLASSES - 1}")
    replace = rng.random(len(y)) < p
    fresh = rng.integers(0, N_CLASSES, len(y))
    return np.where(replace, fresh, y).astype(np.int32)


def check_noise(p, name: str = "noise") -> float:
    """``p`` as a float, or ValueError naming ``name`` unless it is a real number in [0, 1] (not a
    bool or a string)."""
    try:
        p = _checks.real(p, name)
    except ValueError:
        raise ValueError(f"{name} must be a probability in [0, 1] given as a finite number, got {p!r}") from None
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return p


def split(corpus: Corpus, n_train: int, n_valid: int, noise: float, seed: int) -> Split:
    """n_train + n_valid disjoint samples drawn from the pool by ``seed``, labels noised with prob. ``noise``.

    With one seed, the training sample of a smaller split is the start of a larger one's, so
    TbT(n), TbT(2n) and TbV(n + n) share their first n training samples.
    """
    if not isinstance(corpus, Corpus):
        raise ValueError(f"corpus must be a Corpus (from load), got {type(corpus).__name__}")
    noise = check_noise(noise)
    seed = _checks.seed_int(seed)
    n_train = _checks.positive_int(n_train, "n_train")
    n_valid = _checks.nonnegative_int(n_valid, "n_valid")
    if n_train + n_valid > corpus.n_pool:
        raise ValueError(f"n_train + n_valid = {n_train + n_valid} exceeds the {corpus.n_pool} samples "
                         f"available for training in {corpus.name!r}")
    pick_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    order = pick_rng.permutation(corpus.n_pool)[: n_train + n_valid]
    # Noise is drawn for the whole pool, so a sample carries the same label in every split of a seed.
    y = noisy_labels(corpus.y_pool, noise, noise_rng)[order]
    tr, va = order[:n_train], order[n_train:]
    return Split(corpus.x_pool[tr], y[:n_train], corpus.x_pool[va], y[n_train:],
                 corpus.x_test, corpus.y_test)
