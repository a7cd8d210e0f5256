"""One error contract for the public API (issue 14): bad input is a ValueError naming the
argument, raised before any work.

The table below walks the public functions with the kinds of bad value a careful user produces:
None, booleans, 0-d arrays and numpy scalars holding a bad value, non-integral floats and
Fractions where an integer is required, nan, inf, negative numbers, huge numbers (10**400,
1e200), strings and arrays of the wrong shape. Every good argument is tiny, so that a check run
after the work would still be caught by the time limit of each row.

The rules themselves are in :mod:`l2lcore._checks` (one place): integral floats such as 4.0 and
Fraction(4) are accepted where an integer is required (tested at the end), 0-d arrays and numpy
scalars are accepted wherever a real number is, booleans never are.
"""
from __future__ import annotations

import re
import time
from fractions import Fraction

import numpy as np
import pytest

from l2lcore import QuadraticTask, learned, lsq, meta_descent, meta_gradient, meta_objective
from l2lcore.learned import digits
from l2lcore.lsq import gd as lsq_gd
from l2lcore.lsq import sgd as lsq_sgd
from l2lcore.quadratic import proof

TASK = QuadraticTask(np.diag([2.0, 1.0]), [1.0, 1.0])
GRID = [0.01, 0.1]
LSQ = dict(d=3, n=4, sigma=1.0, t=3, m=2, etas=GRID, seed=0, n_test=1)
HORIZON = dict(d=3, n=4, sigma=1.0, ts=[2, 4], m=2, etas=GRID, seed=0)
_RNG = np.random.default_rng(0)
_X = _RNG.standard_normal((4, 3))
_Y = _RNG.standard_normal(4)
_LSQ_TASK = lsq.sample_task(3, 4, 1.0, np.random.default_rng(0))
_PREPARED = [lsq.prepare_tbt(_LSQ_TASK)]


def _call(fn, **fixed):
    """fn with keyword arguments ``fixed`` and one more, the one under test."""
    return lambda name, value: fn(**{**fixed, name: value})


# (label, call(name, value), argument name, bad value, words the message must contain)
ROWS = []


def rows(label, call, name, cases):
    for value, words in cases:
        ROWS.append((label, call, name, value, words))


# ------------------------------------------------------------------- kinds of bad value

INT_BAD = [  # where a positive integer is required
    (None, "positive integer"), (True, "positive integer"), (np.array(3), "positive integer"),
    (2.5, "positive integer"), (np.float64(2.5), "positive integer"), (Fraction(5, 2), "positive integer"),
    (float("nan"), "positive integer"), (float("inf"), "positive integer"), (-1, "positive integer"),
    (0, "positive integer"), (np.int64(-3), "positive integer"), ("3", "positive integer"),
    ([3], "positive integer"),
]
REAL_POS_BAD = [  # where a finite real number > 0 is required
    (None, "real number"), (True, "real number"), (np.bool_(False), "real number"),
    (np.array(float("nan")), "finite"), (np.float64(-1.0), "> 0"), (Fraction(-1, 2), "> 0"),
    (float("nan"), "finite"), (float("inf"), "finite"), (-1.0, "> 0"), (0.0, "> 0"),
    (10**400, "finite"), ("1", "real number"), ([1.0], "real number"),
]
SIGMA_BAD = REAL_POS_BAD + [(1e200, "<= 1e+100"), (1e-200, ">= 1e-100")]
GRID_BAD = [  # a 1-d grid of step sizes > 0
    (None, "got None"), (True, "real numbers"), ([0.1, True], "not booleans"), ([], "empty"),
    (np.array(0.1), "1-d grid"), ([[0.1]], "1-d grid"), ([0.1, float("nan")], "non-finite"),
    ([0.1, float("inf")], "non-finite"), ([0.1, -1.0], "> 0"), ([0.0], "> 0"),
    ([0.1, 10**400], "float64's range"), ("0.1", "string"), (["a"], "real numbers"),
    ([Fraction(-1, 2)], "> 0"),
]
SEED_BAD = [(None, "non-negative integer"), (True, "non-negative integer"), (-1, "non-negative integer"),
            (1.5, "non-negative integer"), (float("nan"), "non-negative integer"),
            ("0", "non-negative integer"), (np.array(0), "non-negative integer")]
SPLIT_BAD = [(None, "real number"), (True, "real number"), (0.0, "strictly between"),
             (1.0, "strictly between"), (float("nan"), "strictly between"), (np.float64(2.0), "strictly between"),
             (np.array(-0.5), "strictly between"), (10**400, "strictly between"), ("0.5", "real number")]
TS_BAD = [(None, "1-d sequence"), (5, "1-d sequence"), (np.array(5), "1-d sequence"), ("24", "1-d sequence"),
          ([], "empty"), ([[2, 4]], "1-d sequence"), ([2, 0], "t must be a positive integer"),
          ([2, 2.5], "t must be a positive integer"), ([2, True], "t must be a positive integer"),
          (np.array([True, True]), "booleans")]

# ------------------------------------------------------------------- quadratic task

rows("QuadraticTask", _call(QuadraticTask, w0=[1.0, 1.0]), "H",
     [(None, "H"), (np.diag([1.0, np.nan]), "H"), (np.diag([1.0, np.inf]), "H"), ([[True, False], [False, True]], "H"),
      (np.ones(2), "H"), ("ab", "H"), (np.diag([1.0, -1.0]), "H"), ([[10**400, 0], [0, 1]], "H")])
rows("QuadraticTask", _call(QuadraticTask, H=np.eye(2)), "w0",
     [(None, "w0"), ([1.0, np.nan], "w0"), ([0.0, 0.0], "w0"), ([True, False], "w0"), (np.eye(2), "w0"),
      ([1.0], "w0")])
rows("QuadraticTask.random", _call(QuadraticTask.random, seed=0), "d", INT_BAD + [(10**6, "d")])
rows("QuadraticTask.random", _call(QuadraticTask.random, d=2), "seed", SEED_BAD)
for fn in (meta_objective, meta_gradient):
    label = fn.__name__
    rows(label, _call(fn, eta=0.1, t=3), "task", [(None, "task"), ("task", "task"), (np.eye(2), "task")])
    rows(label, _call(fn, task=TASK, t=3), "eta",
         [(None, "eta"), (True, "eta"), (float("nan"), "eta"), (float("inf"), "eta"), (-1.0, "eta"),
          (np.float64(-0.5), "eta"), (Fraction(-1, 3), "eta"), ("abc", "eta"), ([[0.1]], "eta")])
    rows(label, _call(fn, task=TASK, eta=0.1), "t", INT_BAD)
    rows(label, _call(fn, task=TASK, eta=0.1, t=3), "objective", [("log2", "objective"), (None, "objective")])
    rows(label, _call(fn, task=TASK, eta=0.1, t=3), "method", [("fast", "method"), (None, "method")])
rows("meta_descent", _call(meta_descent, task=TASK, eta0=0.1, steps=2), "t", INT_BAD)
rows("meta_descent", _call(meta_descent, task=TASK, t=3, steps=2), "eta0",
     [(None, "eta0"), (True, "eta0"), ([0.1, True], "eta0"), (float("nan"), "eta0"), (-1.0, "eta0")])
rows("meta_descent", _call(meta_descent, task=TASK, t=3, eta0=0.1), "steps", INT_BAD + [(10**12, "steps")])
rows("meta_descent", _call(meta_descent, task=TASK, t=3, eta0=0.1, steps=2), "return_gradients",
     [("yes", "return_gradients"), (1, "return_gradients")])
rows("proof.enclose", _call(proof.enclose, task=TASK, t=3, quantity="F"), "eta",
     [(None, "eta"), (True, "eta"), (float("nan"), "eta"), (-1.0, "eta")])
rows("proof.enclose", _call(proof.enclose, task=TASK, eta=0.1, quantity="F"), "t", INT_BAD)
rows("proof.enclose", _call(proof.enclose, task=TASK, eta=0.1, t=3), "quantity", [("H", "quantity"), (None, "quantity")])
rows("proof.enclose", _call(proof.enclose, task=TASK, eta=0.1, t=3, quantity="F"), "digits", INT_BAD)
rows("proof.intermediate_norms", _call(proof.intermediate_norms, task=TASK, t=3, ks=[0, 3]), "eta",
     [(None, "eta"), (True, "eta"), (float("nan"), "eta"), (-1.0, "eta")])
rows("proof.intermediate_norms", _call(proof.intermediate_norms, task=TASK, eta=0.1, ks=[0]), "t", INT_BAD)
rows("proof.intermediate_norms", _call(proof.intermediate_norms, task=TASK, eta=0.1, t=3), "ks",
     [(None, "ks"), ([4], "ks"), ([-1], "ks"), ([0.5], "ks"), ([True], "ks"), ("0", "ks"), ([[0]], "ks")])
rows("proof.intermediate_norms", _call(proof.intermediate_norms, task=TASK, eta=0.1, t=3, ks=[0]), "digits",
     INT_BAD)
rows("proof.constant", _call(proof.constant, task=TASK), "name", [("kappa", "constant"), (None, "constant")])
rows("proof.constant", _call(proof.constant, name="L"), "task", [(None, "task"), (np.eye(2), "task")])
rows("proof.spectrum", _call(proof.spectrum), "task", [(None, "task"), (np.eye(2), "task")])
rows("proof.contraction", _call(proof.contraction, task=TASK), "eta",
     [(None, "eta"), (True, "eta"), (float("nan"), "eta"), (-1.0, "eta")])
rows("proof.spectral", _call(proof.spectral, task=TASK, quantity="x"), "formula", [(None, "formula"), (3, "formula")])
rows("proof.spectral_values", _call(proof.spectral_values, task=TASK, quantity="x"), "formula",
     [(None, "formula"), (3, "formula")])
rows("proof.spectral_values", _call(proof.spectral_values, formula=lambda l, c: [l[0]], quantity="x"), "task",
     [(None, "task"), (np.eye(2), "task")])

# ------------------------------------------------------------------- least squares

for fn in (lsq.compare_tbt_tbv, lsq_sgd.compare_tbt_tbv_sgd):
    label = fn.__module__.rsplit(".", 1)[-1] + "." + fn.__name__
    call = _call(fn, **LSQ)
    for name in ("d", "n", "t", "m", "n_test"):
        rows(label, call, name, INT_BAD)
    rows(label, call, "sigma", SIGMA_BAD)
    rows(label, call, "etas", GRID_BAD)
    rows(label, call, "seed", SEED_BAD)
    rows(label, call, "split", SPLIT_BAD)
rows("lsq.compare_tbt_tbv", _call(lsq.compare_tbt_tbv, **LSQ), "t", [(10**400, "2**52")])
rows("sgd.compare_tbt_tbv_sgd", _call(lsq_sgd.compare_tbt_tbv_sgd, **LSQ), "t", [(10**9, "t = 1000000000")])
rows("sgd.compare_tbt_tbv_sgd", _call(lsq_sgd.compare_tbt_tbv_sgd, **LSQ), "max_flops",
     [(-1.0, "max_flops"), ("lots", "max_flops")])
for fn in (lsq.sweep_horizon, lsq.horizon_over_seeds):
    fixed = {**HORIZON, "seeds": [0]} if fn is lsq.horizon_over_seeds else HORIZON
    fixed = {k: v for k, v in fixed.items() if not (fn is lsq.horizon_over_seeds and k == "seed")}
    call = _call(fn, **fixed)
    rows(fn.__name__, call, "ts", TS_BAD)
    for name in ("d", "n", "m"):
        rows(fn.__name__, call, name, INT_BAD)
    rows(fn.__name__, call, "sigma", SIGMA_BAD)
    rows(fn.__name__, call, "etas", GRID_BAD)
    rows(fn.__name__, call, "split", SPLIT_BAD)
rows("sweep_horizon", _call(lsq.sweep_horizon, **HORIZON), "seed", SEED_BAD)
rows("horizon_over_seeds", _call(lsq.horizon_over_seeds, **{k: v for k, v in HORIZON.items() if k != "seed"}),
     "seeds", [(None, "seeds"), (3, "seeds"), ("01", "seeds"), ([], "seeds is empty"), ([0, -1], "seed")])
rows("sweep_horizon", _call(lsq.sweep_horizon, **HORIZON), "objectives_over_t", [(None, "objectives_over_t")])
rows("sgd_meta_objectives_over_t", _call(lsq_sgd.sgd_meta_objectives_over_t, **HORIZON), "ts",
     TS_BAD + [([2, 10**9], "ts = 'up to 1000000000'")])
call = _call(lsq.sample_task, d=3, n=4, sigma=1.0, rng=np.random.default_rng(0))
rows("sample_task", call, "d", INT_BAD)
rows("sample_task", call, "n", INT_BAD + [(10**12, "n = 1000000000000")])
rows("sample_task", call, "sigma", SIGMA_BAD)
rows("sample_task", call, "rng", [(None, "rng"), (0, "rng"), (np.random.RandomState(0), "rng")])
rows("mean_ci", _call(lsq.mean_ci, values=[1.0, 2.0, 3.0]), "level",
     [(2, "level must be < 1"), (0.0, "level must be > 0"), (-0.5, "level"), (float("nan"), "level"),
      (True, "level"), ("95%", "level"), (None, "level")])
rows("mean_ci", _call(lsq.mean_ci), "values",
     [([1.0], "at least 2 values"), ([1.0, float("nan")], "values has non-finite"), ([True, False], "values"),
      (None, "values"), ("12", "values"), ([1.0, 10**400], "values")])
call = _call(lsq.shrinkage_gain, d=3, n=4, sigma=1.0)
rows("shrinkage_gain", call, "n", INT_BAD)
rows("shrinkage_gain", call, "d", INT_BAD)
rows("shrinkage_gain", call, "sigma", [(-1.0, "sigma must be >= 0"), (1e200, "sigma"), (None, "sigma"),
                                       (True, "sigma"), (float("inf"), "sigma")])
rows("gd_spectrum", _call(lsq.gd_spectrum, y=_Y), "X",
     [(np.full((4, 3), np.nan), "X has non-finite"), (None, "X"), (np.ones(4), "X must have 2 axes"),
      (np.zeros((4, 3), dtype=bool), "X"), (np.ones((3, 3)), "shapes disagree")])
rows("gd_spectrum", _call(lsq.gd_spectrum, X=_X), "y", [(np.full(4, np.inf), "y has non-finite"), (None, "y")])
rows("gd_spectrum", _call(lsq.gd_spectrum, X=_X, y=_Y), "basis", [("yes", "basis"), (1, "basis")])
call = _call(lsq.gd_unrolled, X=_X, y=_Y, eta=0.1, t=3, sigma=1.0)
rows("gd_unrolled", call, "eta", [(-1.0, "eta must be > 0"), (float("nan"), "eta"), (None, "eta"), (True, "eta")])
rows("gd_unrolled", call, "t", INT_BAD + [(10**9, "t = 1000000000")])
rows("gd_unrolled", call, "sigma", SIGMA_BAD)
call = _call(lsq_gd.log_step_descent, tasks=_PREPARED, t=3, eta0=1e-3, steps=2, mu=1.0)
rows("log_step_descent", call, "mu", [(1e3, "mu = 1000.0 is too large"), (0.0, "mu must be finite and > 0"),
                                      (float("inf"), "mu"), (None, "mu"), (True, "mu")])
rows("log_step_descent", call, "eta0", [(0.0, "eta0"), (-1.0, "eta0"), (float("nan"), "eta0"), (None, "eta0")])
rows("log_step_descent", call, "steps", INT_BAD + [(10**12, "steps")])
rows("log_step_descent", call, "t", INT_BAD + [(10**400, "t")])
rows("log_step_descent", call, "tasks", [([], "tasks is empty"), (None, "tasks"), ([None], "tasks"),
                                          (_PREPARED[0], "tasks")])
_ORDER = np.zeros((1, 3), dtype=int)
call = _call(lsq_sgd.sgd_weights, X=_X[None], y=_Y[None], order=_ORDER, etas=GRID, sigma=1.0)
rows("sgd_weights", call, "order", [([[0, 4, 1]], "order must hold indices in 0 .. 3"),
                                    ([[0, -1, 1]], "order must hold indices in 0 .. 3"),
                                    ([[0.5, 1, 2]], "order must hold integers"),
                                    (np.ones((1, 3), dtype=bool), "order"), (None, "order"),
                                    (np.zeros((2, 3), dtype=int), "shapes disagree")])
rows("sgd_weights", call, "X", [(np.full((1, 4, 3), np.nan), "X has non-finite"), (_X, "X must have 3 axes")])
rows("sgd_weights", call, "etas", GRID_BAD)
rows("sgd_weights", call, "sigma", SIGMA_BAD)
call = _call(lsq_sgd.sgd_unrolled, X=_X, y=_Y, order=[0, 1, 2], eta=0.1, sigma=1.0)
rows("sgd_unrolled", call, "eta", [(-1.0, "eta must be > 0"), (float("nan"), "eta must be finite"), (0.0, "eta"),
                                   (None, "eta"), (True, "eta"), ("0.1", "eta")])
rows("sgd_unrolled", call, "order", [([0, 4], "order must hold indices"), ([-1], "order must hold indices"),
                                     ([[0]], "order must have 1 axes")])
rows("sample_order", _call(lsq_sgd.sample_order, n=4, t=3, rng=np.random.default_rng(0)), "t",
     INT_BAD + [(10**10, "t = 10000000000")])


# ------------------------------------------------------------------- learned optimizer and digits
# run_comparison and meta_gradient_norms check everything before loading data or running JAX;
# the corpus for digits.split is loaded once (scikit-learn's digits, no download).

_CORPUS = digits.load("digits")
NOISE_BAD = [(None, "noise"), (True, "noise"), (np.array(float("nan")), "noise"), (1.5, "noise"),
             (-0.1, "noise"), (float("inf"), "noise"), (Fraction(3, 2), "noise"), ("0.2", "noise"),
             (10**400, "noise"), ([0.1], "noise")]
for fn in (learned.run_comparison, learned.meta_gradient_norms):
    label = fn.__name__
    call = _call(fn)
    rows(label, call, "n", [v for v in INT_BAD if v[0] is not None])
    rows(label, call, "noise", NOISE_BAD)
    rows(label, call, "seed", SEED_BAD)
    rows(label, call, "spec", [("x", "spec"), (3, "spec"), ({"hidden": 4}, "spec")])
    rows(label, call, "mnist_path", [(123, "mnist_path"), (True, "mnist_path"), (["a"], "mnist_path")])
    rows(label, call, "dataset", [("cifar", "dataset"), (None, "dataset"), (["digits"], "dataset")])
    rows(label, call, "scale", [("huge", "scale"), (None, "scale"), (["book"], "scale")])
    for field in ("steps", "unroll", "meta_iters", "tasks", "record_every", "batch", "target_batch"):
        rows(label, call, field, [(0, f"budget.{field} must be a positive integer"),
                                  (2.5, f"budget.{field}"), (True, f"budget.{field}"), ("4", f"budget.{field}"),
                                  (None, f"budget.{field}")])
    for field in ("meta_lr", "clip"):
        rows(label, call, field, [(0.0, f"budget.{field} must be > 0"), (float("nan"), f"budget.{field}"),
                                  (True, f"budget.{field}"), ("x", f"budget.{field}"), (1e400, f"budget.{field}")])
    rows(label, call, "hidden_layers", [(5, "budget.hidden_layers"), ((8, 0), "budget.hidden_layers"),
                                        ((8, True), "budget.hidden_layers"), ((8.5,), "budget.hidden_layers"),
                                        (None, "budget.hidden_layers")])
    rows(label, call, "sgd_grid", [(None, "budget.sgd_grid"), ((0.1, True), "budget.sgd_grid must be real numbers, not booleans"),
                                   ((0.1, -1.0), "budget.sgd_grid must be > 0"), ((), "budget.sgd_grid is empty"),
                                   ((0.1, float("nan")), "budget.sgd_grid"), (0.1, "budget.sgd_grid"),
                                   (((0.1,),), "budget.sgd_grid")])
    rows(label, call, "warp", [(3, "unknown budget argument 'warp'")])
rows("run_comparison", _call(learned.run_comparison), "seeds", INT_BAD)
rows("run_comparison", _call(learned.run_comparison), "progress", [("yes", "progress"), (1, "progress")])
rows("meta_gradient_norms", _call(learned.meta_gradient_norms), "runs", INT_BAD)
rows("meta_gradient_norms", _call(learned.meta_gradient_norms), "unrolls",
     [(None, "unrolls"), (4, "unrolls"), ([], "unrolls is empty"), ([1, 0], "unroll"), ([1, True], "unroll")])
rows("meta_gradient_norms", _call(learned.meta_gradient_norms), "step_sizes",
     [(None, "step_sizes"), ((0.05, True), "step_sizes"), ((-0.1,), "step_sizes must be > 0"),
      ((), "step_sizes is empty"), ((float("inf"),), "step_sizes"), ([[0.05]], "step_sizes")])
rows("run_replicates", _call(learned.run_replicates), "replicates", INT_BAD)
for field in ("steps", "meta_lr", "hidden_layers", "sgd_grid"):
    bad = {"steps": 2.5, "meta_lr": -1.0, "hidden_layers": (0,), "sgd_grid": (True,)}[field]
    rows("budget", _call(learned.budget), field, [(bad, f"budget.{field}")])
rows("budget", _call(learned.budget), "scale", [("huge", "scale"), (None, "scale")])
call = _call(digits.split, corpus=_CORPUS, n_train=5, n_valid=2, noise=0.0, seed=0)
rows("digits.split", call, "n_train", INT_BAD)
rows("digits.split", call, "n_valid", [(None, "n_valid"), (True, "n_valid"), (-1, "n_valid must be a non-negative"),
                                       (2.5, "n_valid"), ("2", "n_valid"), (float("nan"), "n_valid")])
rows("digits.split", call, "noise", NOISE_BAD)
rows("digits.split", call, "seed", SEED_BAD)
rows("digits.split", call, "corpus", [(None, "corpus"), ("digits", "corpus")])
call = _call(digits.load)
rows("digits.load", call, "dataset", [("cifar", "dataset"), (None, "dataset"), (3, "dataset")])
rows("digits.load", call, "mnist_path", [(123, "mnist_path"), (True, "mnist_path"), (b"/tmp", "mnist_path")])
rows("digits.load", call, "seed", SEED_BAD)
rows("digits.load_mnist", _call(digits.load_mnist), "path", [(None, "mnist_path"), (123, "mnist_path")])
call = _call(digits.noisy_labels, y=np.arange(10), p=0.1, rng=np.random.default_rng(0))
rows("digits.noisy_labels", call, "p", [(v, "probability") for v, _ in NOISE_BAD])
rows("digits.noisy_labels", call, "rng", [(None, "rng"), (0, "rng")])
rows("digits.noisy_labels", call, "y", [(np.array([0, 10]), "y"), (np.array([True]), "y"), (np.zeros((2, 2), int), "y")])


# ------------------------------------------------------------------- the tests


def _id(row):
    label, _, name, value, _ = row
    text = repr(value)
    return f"{label}-{name}-{text[:30]}"


@pytest.mark.parametrize("row", ROWS, ids=[_id(r) for r in ROWS])
def test_bad_value_is_a_value_error_naming_the_argument(row):
    label, call, name, value, words = row
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        call(name, value)
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert re.search(rf"\b{re.escape(name)}\b", message), f"{label}: {message!r} does not name {name}"
    assert words in message, f"{label}: {message!r} lacks {words!r}"
    assert elapsed < 1.0, f"{label}({name}={value!r}) took {elapsed:.2f} s before refusing"


def test_the_table_covers_every_kind_of_bad_value():
    kinds = {
        "None": lambda v: v is None, "bool": lambda v: isinstance(v, (bool, np.bool_)),
        "0-d array": lambda v: isinstance(v, np.ndarray) and v.ndim == 0,
        "non-integral float": lambda v: isinstance(v, float) and np.isfinite(v) and not v.is_integer(),
        "numpy scalar": lambda v: isinstance(v, np.generic), "Fraction": lambda v: isinstance(v, Fraction),
        "nan": lambda v: isinstance(v, float) and np.isnan(v), "inf": lambda v: isinstance(v, float) and np.isinf(v),
        "negative": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0,
        "huge": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 1e200,
        "string": lambda v: isinstance(v, str),
        "wrong shape": lambda v: isinstance(v, (list, np.ndarray)) and np.ndim(v) >= 1,
    }
    seen = {kind for kind, test in kinds.items() for row in ROWS if test(row[3])}
    assert seen == set(kinds)
    assert len(ROWS) >= 300


# ------------------------------------------------------------------- runaway work


@pytest.mark.parametrize("method", ["backprop", "forward"])
def test_a_billion_steps_fail_fast_naming_t(method):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"\bt\b"):
        meta_gradient(TASK, 0.1, 10**9, "log", method)
    assert time.perf_counter() - start < 1.0


def test_sgd_with_a_billion_steps_is_refused_before_allocating():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"t = 1000000000 would need about .* GiB"):
        lsq_sgd.compare_tbt_tbv_sgd(2, 4, 1.0, 10**9, 1, [0.1], 0, n_test=1)
    # memory within the limit, time over it: the estimate names the operations
    with pytest.raises(ValueError, match=r"t = 100000000 would take about .* operations"):
        lsq_sgd.compare_tbt_tbv_sgd(2, 4, 1.0, 10**8, 1, [0.1], 0, n_test=1)
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------------- the reproducers of issue 14


def test_issue_14_lsq_reproducers():
    with pytest.raises(ValueError, match="sigma must be <= 1e"):
        lsq.compare_tbt_tbv(2, 4, 1e200, 2, 2, [0.1], 0, n_test=1)
    with pytest.raises(ValueError, match="mu = 1000.0 is too large"):
        lsq_gd.log_step_descent(_PREPARED, 3, 1e-3, 5, mu=1e3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        lsq.shrinkage_gain(3, 0, 1.0)
    with pytest.raises(ValueError, match="ts must be a 1-d sequence"):
        lsq.sweep_horizon(2, 4, 1.0, 5, 2, [0.1], 0)
    X, y = _X[None], _Y[None]
    for bad in (4, 10, -1, -4):
        with pytest.raises(ValueError, match="order must hold indices in 0 .. 3"):
            lsq_sgd.sgd_weights(X, y, [[0, bad]], [0.1], 1.0)
    with pytest.raises(ValueError, match="level must be < 1"):
        lsq.mean_ci([1.0, 2.0, 3.0], level=2)
    with pytest.raises(ValueError, match="X has non-finite values"):
        lsq.gd_spectrum(np.full((3, 2), np.nan), np.zeros(3))
    for eta, words in ((-1, "eta must be > 0"), (float("nan"), "eta must be finite")):
        with pytest.raises(ValueError, match=words):
            lsq_sgd.sgd_unrolled(_X, _Y, [0, 1], eta, 1.0)


def test_issue_14_learned_reproducers(tmp_path):
    with pytest.raises(ValueError, match="spec must be an OptimizerSpec"):
        learned.run_comparison(spec="x")
    with pytest.raises(ValueError, match="mnist_path must be a path"):
        learned.run_comparison(mnist_path=123)
    # an integral float is an integer (the package's rule), so 5.0 now works instead of failing later
    assert digits.split(_CORPUS, 5.0, 2.0, 0.0, 0).x_train.shape == (5, 64)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "sizes.npz", x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 30).astype(np.uint8),
             x_test=rng.integers(0, 256, (10, 27, 27), dtype=np.uint8), y_test=rng.integers(0, 10, 10).astype(np.uint8))
    with pytest.raises(ValueError, match=r"train images \(28, 28\) and test images \(27, 27\) differ in size"):
        digits.load("mnist", mnist_path=tmp_path / "sizes.npz")
    # a known field with a bad value: the field and the value, not "unknown budget argument"
    for kwargs, words in (({"hidden_layers": 5}, "budget.hidden_layers must be a 1-d sequence"),
                          ({"sgd_grid": None}, "budget.sgd_grid must be real numbers, got None"),
                          ({"meta_lr": "fast"}, "budget.meta_lr must be a real number")):
        with pytest.raises(ValueError) as info:
            learned.run_comparison(**kwargs)
        assert words in str(info.value) and "unknown" not in str(info.value)
    # booleans are rejected inside arrays as they are as scalars
    with pytest.raises(ValueError, match="step_sizes must be real numbers, not booleans"):
        learned.meta_gradient_norms(step_sizes=(0.05, True))
    with pytest.raises(ValueError, match="budget.sgd_grid must be real numbers, not booleans"):
        learned.budget("book", sgd_grid=(True, 0.1))
    # the rule n_train > 0 is stated as such (not ">= 0")
    for bad in (0, -1):
        with pytest.raises(ValueError, match="n_train must be a positive integer"):
            digits.split(_CORPUS, bad, 2, 0.0, 0)


def test_a_large_but_representable_mu_still_descends_or_names_mu():
    """mu within one step's range: the path stays in float64 or the error names mu."""
    path = lsq_gd.log_step_descent(_PREPARED, 3, 1e-3, 3, mu=5.0)
    assert np.all(np.isfinite(path)) and np.all(path > 0)
    try:
        path = lsq_gd.log_step_descent(_PREPARED, 3, 1e-3, 200, mu=600.0)
    except ValueError as err:
        assert "mu = 600.0" in str(err)
    else:
        assert np.all(np.isfinite(path)) and np.all(path > 0)


def test_a_zero_matrix_has_an_empty_spectrum_and_gd_stays_at_zero():
    spec = lsq.gd_spectrum(np.zeros((4, 3)), _Y)
    assert spec.s.size == 0 and spec.perp == pytest.approx(float(_Y @ _Y))
    np.testing.assert_array_equal(lsq.gd_weights(spec, [0.1], 5, 1.0), np.zeros((1, 3)))


# ------------------------------------------------------------------- what the rules accept


def test_integral_floats_fractions_numpy_scalars_and_0d_arrays_are_accepted_alike():
    """One rule everywhere: 4.0, Fraction(4) and np.int64(4) are the integer 4; np.float64 and
    0-d arrays are real numbers."""
    base = lsq.compare_tbt_tbv(**LSQ)
    for change in ({"n": 4.0}, {"n": Fraction(4)}, {"n": np.int64(4)}, {"sigma": np.array(1.0)},
                   {"sigma": Fraction(1)}, {"split": np.float64(0.5)}, {"etas": np.array(GRID)}):
        out = lsq.compare_tbt_tbv(**{**LSQ, **change})
        np.testing.assert_array_equal(out["meta_tbv"], base["meta_tbv"])
    assert lsq.shrinkage_gain(3.0, np.int64(4), np.array(1.0)) == lsq.shrinkage_gain(3, 4, 1.0)
    np.testing.assert_array_equal(lsq.sweep_horizon(**{**HORIZON, "ts": np.array([2, 4])}).eta_tbv,
                                  lsq.sweep_horizon(**HORIZON).eta_tbv)
    assert learned.budget("book", steps=400.0, meta_lr=np.float32(0.01), sgd_grid=np.array([0.1, 0.2])) == \
        learned.budget("book", steps=400, meta_lr=float(np.float32(0.01)), sgd_grid=(0.1, 0.2))
    a = digits.split(_CORPUS, np.int64(5), Fraction(2), np.array(0.25), 3.0)
    b = digits.split(_CORPUS, 5, 2, 0.25, 3)
    np.testing.assert_array_equal(a.y_train, b.y_train)
