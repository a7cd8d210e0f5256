"""Corollary 1: backprop through the unrolled loop breaks exactly where its intermediates leave
the float range, JAX breaks at the same places, and the stable method does not break."""
import subprocess
import sys

import mpmath
import numpy as np
import pytest

import l2lcore
from l2lcore.chapters import corollary1 as nm
from l2lcore.quadratic import exact
from l2lcore.chapters.corollary1 import ACCURATE, INACCURATE, NONFINITE, ZERO


@pytest.fixture(scope="module")
def task():
    return l2lcore.QuadraticTask.random(8, 1, "paper")


@pytest.fixture(scope="module")
def grids(task):
    etas = np.linspace(0.2, 3.0, 15) / task.L
    horizons = nm.log_grid(10, 3000, 6)
    reference = nm.exact_log_gradients(task, etas, horizons)
    diagrams = {dt: nm.phase_diagram(task, etas, horizons, dt, reference) for dt in nm.FLOAT_DTYPES}
    witnesses = {dt: nm.jax_witness(task, diagrams[dt], every=2) for dt in nm.FLOAT_DTYPES}
    return diagrams, witnesses


@pytest.fixture(scope="module")
def rates(task):
    return nm.intermediate_rates(task, [0.5, 1.5, 2.5], nm.log_grid(100, 3000, 4), tol=0.05)


@pytest.fixture(scope="module")
def runs(task):
    return nm.trace_runs(task, [(1.0, 300), (2.5, 200)])


def test_every_corollary1_claim_has_its_expected_verdict_on_a_small_grid(task, grids, rates, runs):
    claims = nm.claims(task, *grids, rates, runs)
    assert len(claims) == 15
    for c in claims:
        assert c.as_expected, f"{c.claim}: {c.verdict}, expected {c.expected} ({c.measured})"
    # The claims the chapter always checked (G' moderate while F spans more than float64,
    # failures, prediction, monotone in t, larger eta sooner, JAX, stable method) still hold.
    for i in (2, 3, 4, 5, 7, 8, 12, 14):
        assert claims[i - 1].holds, f"{claims[i - 1].claim}: {claims[i - 1].measured}"
    assert claims[10].verdict == "not tested" and claims[10].statement == "autodiff"
    assert {c.statement for c in claims if c.tag != "proven-values"} == {s.key for s in nm.STATEMENTS}
    assert {claims[i - 1].kind for i in (12, 13, 14, 15)} == {"consistency"}
    assert claims[14].tag == "proven-values" and claims[14].verdict == "reproduced"


def test_every_exact_value_the_chapter_shows_is_proven(task, grids, rates, runs):
    """Issue 13: G' on every cell of the diagram and of every trace (the running sum included),
    the loss behind the rates and the traces, the norms of the iterates and adjoints (rates and
    traces) and the task's constants agree with proven Arb enclosures."""
    diagrams, witnesses = grids
    d64 = diagrams["float64"]
    proven = nm.prove(task, rates, runs, d64)
    pairs = {(r.eta_L, r.t): r for r in runs}.values()
    step_sizes = {float(e) for e in rates.eta_L} | {r.eta_L for r in pairs}
    n = (d64.exact.size + 2 * rates.log10["loss"].size
         + sum(3 + int(np.sum(r.steps < r.t)) for r in pairs)
         + 2 * rates.log10["state"].size + sum(2 * r.steps.size for r in pairs)  # norms
         + len(nm.SHOWN_CONSTANTS) + 1 + 2 + len(step_sizes))  # constants, scale, log10 F range, S
    assert proven.count == n and proven.all_proven, proven.outside
    (row,) = [c for c in nm.claims(task, diagrams, witnesses, rates, runs, proven=proven)
              if c.tag == "proven-values"]
    assert row.cases == n and row.as_expected
    # a value off in its 10th digit is caught, even when its enclosure is shared
    from l2lcore.quadratic.proof import ExactValue
    eta, t = float(d64.etas[0]), int(d64.horizons[0])
    good = ExactValue(task, t, "G'", float(d64.exact[0, 0]), eta, digits=12)
    bad = ExactValue(task, t, "G'", float(d64.exact[0, 0]) * (1 + 1e-10), eta, digits=12)
    check = nm.check_values([good, bad])
    assert (check.count, check.proven) == (2, 1)
    with pytest.raises(ValueError, match="values"):
        nm.check_values([ExactValue(task, t, "eta*", 0.1)])
    # a norm off by a factor 10^(2e-9) (a log10 off in its 9th digit) is caught
    r = runs[0]
    shifted = dict(r.exact, state=r.exact["state"] + 1e-9 * np.where(r.steps == r.steps[-1], 1, 0))
    off = nm.norm_checks(task, rates, [nm.TraceRun(r.eta_L, r.t, r.dtype, r.S, r.trace, r.steps, shifted,
                                                   r.exact_gradient)])
    assert [label for label, ok in off if not ok] == [(f"||state||^2_{r.t}", r.eta_L / task.L, r.t)]


def test_the_shown_constants_are_those_the_chapter_glues():
    """SHOWN_CONSTANTS names the formats book/corollary1.md shows each constant with."""
    import pathlib
    import re

    text = (pathlib.Path(nm.__file__).parents[2] / "book" / "corollary1.md").read_text()
    shown = dict(re.findall(r"\{glue:text\}`(\w+):([.\w]+)`", text))
    assert {k: fmt for k, (_, fmt) in nm.SHOWN_CONSTANTS.items()} == {k: shown[k] for k in nm.SHOWN_CONSTANTS}


def test_the_extreme_intermediates_change_by_S_squared_per_inner_step(task, rates):
    # ||w_t||^2 and F grow like S^(2t), the seed 1/(tF) and ||wbar_t||^2 like S^(-2t) (times 1/t, 1/t^2).
    assert np.allclose(rates.S, np.max(np.abs(1 - rates.eta_L[:, None] / task.L * task.eigenvalues), axis=1))
    for q, sign in nm.RATE_QUANTITIES.items():
        last = rates.slopes(q)[:, -1]
        assert np.all(np.abs(last - sign * 2 * np.log10(rates.S)) <= 0.05 * np.abs(2 * np.log10(rates.S))), q
    # the polynomial factor of the seed is exactly the difference between seed and 1/loss
    assert np.allclose(rates.log10["seed"], -rates.log10["loss"] - np.log10(rates.horizons), atol=1e-9)
    assert rates.worst <= rates.tol and rates.cases == 12


def test_config_applies_the_paper_scale_and_rejects_bad_parameters():
    base = dict(d=20, seed=0, ensemble="paper", eta_L=(0.1, 2.5), n_eta=36, t_range=(10, 100_000), n_horizons=13,
                jax_every=2, traces=[(1.0, 5_000)], rate_eta_L=[0.5, 2.5], rate_t=(100, 10_000), n_rate=9,
                rate_tol=0.05)
    book = nm.config("book", **base)
    paper = nm.config("paper", **base)
    assert (book.n_eta, book.n_horizons, book.jax_every) == (36, 13, 2)
    assert (paper.n_eta, paper.n_horizons, paper.jax_every) == (72, 25, 3)
    assert book.etas_L.size == 36 and book.horizons[0] == 10 and book.rate_horizons[-1] == 10_000
    for name, bad in (("eta_L", (2.5, 0.1)), ("traces", [(1.0,)]), ("rate_eta_L", [2.0]), ("rate_t", (10,)),
                      ("rate_tol", 0), ("n_eta", 0)):
        with pytest.raises(ValueError, match=name.split("_")[0]):
            nm.config("book", **{**base, name: bad})
    with pytest.raises(ValueError, match="scale"):
        nm.config("huge", **base)


def test_backprop_breaks_above_2_over_L_with_zero_then_nan(task, grids):
    diagrams, _ = grids
    d64 = diagrams["float64"]
    last = d64.observed[-1, d64.etas * task.L > 2.1]
    assert set(last.tolist()) <= {ZERO, NONFINITE} and ZERO in d64.observed


def test_range_prediction_at_the_float32_thresholds():
    # float32: log10 max = 38.53, log10 smallest normal = -37.93, log10 smallest subnormal = -44.85.
    def one(ell, t, hw=0.0, flush=False):
        return int(nm.predict(np.array([ell]), np.array([hw]), t, "float32", flush)[0])

    assert one(0.0, 10) == ACCURATE
    assert one(38.0, 10) == ZERO  # t F = 1e39 overflows: the seed 1/(tF) is 0
    assert one(-38.0, 10) == INACCURATE  # F subnormal, seed 1/(tF) = 1e37 still finite
    assert one(-38.0, 10, flush=True) == NONFINITE  # F flushed to 0: seed inf
    assert one(-40.0, 10) == NONFINITE  # t F = 1e-39 < 1/max: the seed overflows
    assert one(-37.0, 1) == one(-37.0, 1, flush=True) == ACCURATE  # F and the seed 1e37 normal
    assert one(36.0, 10, hw=39.0) == NONFINITE  # H w_t overflows: 0 * inf = nan
    assert one(38.0, 1, flush=True) == ZERO  # seed 1e-38 is subnormal: flushed to 0


def test_log10_magnitudes_match_the_exact_closed_form(task):
    etas = np.array([0.5, 1.0, 1.9, 2.5]) / task.L
    for t in (7, 900):
        loss, hw = nm.log10_magnitudes(task, etas, t)
        for eta, ell in zip(etas, loss):
            with mpmath.workdps(40):
                ref = mpmath.log10(exact.meta_objective(task, float(eta), t, "naive", digits=15))
            assert abs(ell - float(ref)) < 1e-9 * max(1.0, abs(float(ref)))
        if t == 7:  # small enough to check ||H w_t|| by plain float64 matrix powers
            for eta, h in zip(etas, hw):
                wt = np.linalg.matrix_power(np.eye(task.d) - eta * task.H, t) @ task.w0
                assert abs(h - np.log10(np.linalg.norm(task.H @ wt))) < 1e-9


def test_leading_order_horizon_is_where_rho_to_the_2t_reaches_the_largest_float(task):
    eta = 2.5 / task.L  # rho = eta L - 1 = 1.5
    t = nm.leading_order_horizon(task, np.array([eta]), "float64")[0]
    assert abs(2 * t * np.log10(1.5) - np.log10(np.finfo(np.float64).max)) < 1e-9
    assert np.isinf(nm.leading_order_horizon(task, np.array([0.0]), "float32")[0])


def test_classify_names_nan_inf_zero_and_relative_error():
    codes = nm.classify([1.0, 1.0 + 1e-3, 0.0, np.nan, -np.inf], [1.0] * 5)
    assert codes.tolist() == [ACCURATE, INACCURATE, ZERO, NONFINITE, NONFINITE]


def test_jax_gradient_equals_the_exact_one_where_nothing_leaves_the_range(task):
    eta, t = 1.2 / task.L, 60
    ref = float(exact.meta_gradient(task, eta, t, "log"))
    got64 = nm.jax_log_gradient(task, np.array([eta]), t, "float64")[0]
    got32 = nm.jax_log_gradient(task, np.array([eta]), t, "float32")[0]
    assert abs(got64 - ref) <= 1e-10 * abs(ref)
    assert abs(got32 - ref) <= 1e-3 * abs(ref)


def test_importing_l2lcore_numerics_does_not_import_jax():
    code = "import sys, l2lcore.chapters.corollary1; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_float64_trace_matches_the_exact_magnitudes_wherever_it_is_in_range(task):
    eta, t = 1.0 / task.L, 400
    run = nm.trace_versus_exact(task, eta, t, np.float64)
    tr, ex, k = run["trace"], run["exact"], run["steps"]
    for name in ("state", "adjoint"):
        got = getattr(tr, name)[k]
        ok = np.isfinite(got) & (np.abs(got) < 300)
        assert ok.sum() > len(k) // 2
        assert np.max(np.abs(got[ok] - ex[name][ok])) < 1e-6
    assert abs(tr.loss - ex["loss"]) < 1e-6 and abs(tr.inv_loss - ex["seed"]) < 1e-6
    # The running gradient (drawn in the chapter) also matches, and ends at |G'| for k = 0.
    got = tr.running_gradient[k[:-1]]
    assert np.max(np.abs(got - ex["running_gradient"][:-1])) < 1e-6
    assert abs(10 ** got[0] - abs(float(tr.value))) < 1e-9 * abs(float(tr.value))
    # The exact part can be shared between dtypes, but only for the same (eta, t).
    again = nm.trace_versus_exact(task, eta, t, np.float32, exact_from=run)
    assert again["exact"] is ex and again["trace"].dtype == "float32"
    with pytest.raises(ValueError, match="exact_from"):
        nm.trace_versus_exact(task, eta, t + 1, np.float32, exact_from=run)


def test_bad_input_is_a_value_error(task, grids):
    diagrams, witnesses = grids
    with pytest.raises(ValueError, match="float32 or float64"):
        nm.predict(np.zeros(1), np.zeros(1), 10, "float16")
    with pytest.raises(ValueError, match="shape"):
        nm.predict(np.zeros(2), np.zeros(1), 10, "float32")
    with pytest.raises(ValueError, match="nan"):
        nm.predict(np.array([np.nan]), np.zeros(1), 10, "float32")
    with pytest.raises(ValueError, match="reference"):
        nm.classify([1.0], [0.0])
    with pytest.raises(ValueError, match="horizons"):
        nm.phase_diagram(task, [0.1], [], "float64")
    with pytest.raises(ValueError, match="exact_values"):
        nm.phase_diagram(task, [0.1, 0.2], [5], "float64", exact_values=np.ones((1, 3)))
    with pytest.raises(ValueError, match="keys"):
        nm.claims(task, {"float64": diagrams["float64"]}, witnesses, None, ())
    with pytest.raises(ValueError, match="S\\(eta\\) = 1"):
        nm.intermediate_rates(task, [2.0], [10, 20])
    with pytest.raises(ValueError, match="two"):
        nm.intermediate_rates(task, [1.0], [10])
    with pytest.raises(ValueError, match="lo <= hi"):
        nm.log_grid(10, 5, 3)
