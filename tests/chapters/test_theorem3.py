"""Theorem 3: the naive meta-objective F(eta) = f(w_{t,eta}), checked exactly in mpmath, and the
chapter's computations and claims on a small instance."""
import mpmath
import numpy as np
import pytest

import l2lcore
from l2lcore.book.claims import NOT_REPRODUCED, REPRODUCED
from l2lcore.chapters import theorem3
from l2lcore.quadratic import exact


@pytest.fixture(scope="module")
def task():
    return l2lcore.QuadraticTask.random(6, 7)  # ||w_0|| = 1, as the theorem assumes


@pytest.fixture(scope="module")
def unit_task():
    return l2lcore.QuadraticTask.random(6, 7, "paper")  # ||w_0|| = 1, as Theorem 3 assumes


@pytest.fixture(scope="module")
def figure1_task():
    return l2lcore.QuadraticTask.random(20, 0, "code")  # the authors' Figure-1 instance (||w_0|| != 1)


def small_config(**over):
    kw = dict(d=6, seed=7, ensemble="paper", eta_L=[0.5, 1.0, 1.9, 2.1, 3.0], t_max=3000, n_horizons=5,
              n_grid=41, close_tol=0.01, t_unrolled=300)
    kw.update(over)
    return theorem3.config("book", **kw)


@pytest.mark.parametrize("t", [1, 10, 100, 1000])
def test_upper_bound_below_two_over_L(task, t):
    """For eta < 2/L: |F'(eta)| <= t sum_i c_i^2 lambda_i^2 |1 - eta lambda_i|^(2t-1)."""
    spec = task.spectrum(60)
    for eta in np.linspace(0.05, 1.99, 12) / task.L:
        with mpmath.workdps(60):
            bound = t * mpmath.fsum(c * lam**2 * abs(1 - mpmath.mpf(eta) * lam) ** (2 * t - 1)
                                    for lam, c in zip(spec.lam, spec.csq))
        # Equality holds when every 1 - eta lambda_i >= 0; allow for the 30 certified digits.
        with mpmath.workdps(60):  # abs() outside would round to the global 15 digits
            value = abs(l2lcore.meta_gradient(task, eta, t, "naive"))
            assert value <= bound * (1 + mpmath.mpf("1e-28"))


@pytest.mark.parametrize("t", [1, 10, 100, 1000])
def test_lower_bound_above_two_over_L(task, t):
    """For eta > 2/L: |F'(eta)| >= c_1^2 L^2 t (eta L - 1)^(2t-1) - L^2 t."""
    spec = task.spectrum(60)
    L, c1sq = spec.lam[0], spec.csq[0]
    for eta in np.linspace(2.01, 4, 12) / task.L:
        with mpmath.workdps(60):
            bound = c1sq * L**2 * t * (mpmath.mpf(eta) * L - 1) ** (2 * t - 1) - L**2 * t
        # Nearly tight when the lambda_1 term dominates; allow for the 30 certified digits.
        with mpmath.workdps(60):  # abs() outside would round to the global 15 digits
            value = abs(l2lcore.meta_gradient(task, eta, t, "naive"))
            assert value >= bound * (1 - mpmath.mpf("1e-28"))


@pytest.mark.parametrize("t", [1, 5, 50])
def test_naive_objective_is_strictly_convex(task, t):
    for eta in np.linspace(0, 3 / task.L, 25):
        assert exact.naive_second_derivative(task, eta, t) > 0


def test_theorem3_claims_hold(unit_task):
    """Every check of the chapter holds on a small instance: the bounds, the equality for eta L <= 1,
    the growth rates, the independent checks of F', float64's failure outside its range (and success
    inside), convexity and the minimizer; none is "not reproduced"."""
    task, cfg = unit_task, small_config()
    horizons = [1, 10, 100, 1000, 3000]
    cells = theorem3.naive_gradient_cells(task, cfg.etas(task), horizons)
    checks = theorem3.independent_checks(task, cells, cfg.t_unrolled)
    claims = theorem3.claims(task, cells, checks, theorem3.rate_study(task, cfg), theorem3.convexity(task, cfg))
    assert all(c.holds for c in claims), claims
    assert not [c for c in claims if c.verdict == NOT_REPRODUCED], claims
    # the checks the chapter's previous version required: bounds, equality, rates, float64, F'' > 0, sign change
    required = [1, 2, 3, 6, 7, 10, 11, 12, 13]
    assert all(claims[i - 1].verdict == REPRODUCED for i in required), claims
    assert {c.statement for c in claims if c.tag != "proven-values"} == {s.key for s in theorem3.STATEMENTS}
    assert claims[-1].tag == "proven-values" and claims[-1].verdict == REPRODUCED


def test_every_exact_value_the_chapter_shows_is_proven(unit_task):
    """Issue 13: F' of every cell and of every slope, the smallest F'', the sampled F of the
    convexity figure and the minimizers eta*(t) all agree with proven Arb enclosures; so do
    the bound of every cell, both slopes of every step size, every float64 exit horizon and the
    task's constants as shown."""
    task, cfg = unit_task, small_config()
    cells = theorem3.naive_gradient_cells(task, cfg.etas(task), [1, 10, 100, 3000])
    study, conv = theorem3.rate_study(task, cfg), theorem3.convexity(task, cfg)
    proven = theorem3.prove(task, cells, study, conv)
    n = (len(cells) + 2 * len(study.rates) + len(conv.horizons)
         + sum(len(v) + 1 for v in conv.curves.values()) + len(conv.minimizers))
    n += (len(cells) + 2 * len(study.rates) + sum(x is not None for x in study.exits)
          + len(theorem3.SHOWN_CONSTANTS))
    assert len(conv.curves) == 4 and all(len(v) == len(conv.curve_grid) for v in conv.curves.values())
    assert proven.count == n and proven.all_proven, proven.outside
    (row,) = [c for c in theorem3.claims(task, cells, [], study, conv, proven) if c.tag == "proven-values"]
    assert row.cases == n and row.as_expected and row.verdict == REPRODUCED
    # a value off in its 12th digit is caught
    from l2lcore.quadratic.proof import ExactValue, check
    c = cells[0]
    with mpmath.workdps(40):
        off = c.exact * (1 + mpmath.mpf("1e-12"))
    assert not check([ExactValue(task, c.t, "F'", off, c.eta, "naive", 30)]).all_proven
    # so is a bound off in its 29th digit, an exit horizon one step late and a slope off in its 11th digit
    from dataclasses import replace

    with mpmath.workdps(60):
        shifted = [replace(c, bound=c.bound * (1 + mpmath.mpf("1e-28")))] + cells[1:]
    assert [label for label, ok in theorem3.bound_checks(task, shifted) if not ok] == [
        ("upper bound" if c.upper else "lower bound", c.eta, c.t)]
    late = replace(study, exits=tuple(x + 1 if x is not None else x for x in study.exits))
    assert not any(ok for _, ok in theorem3.range_checks(task, late))
    r = study.rates[0]
    wrong = replace(study, rates=(replace(r, measured=r.measured * (1 + 1e-10)),) + study.rates[1:])
    assert [label for label, ok in theorem3.rate_checks(task, wrong) if not ok] == [("measured slope", r.eta, r.t2)]


def test_the_shown_constants_are_those_the_chapter_glues():
    """SHOWN_CONSTANTS names the formats book/theorem3.md shows each constant with."""
    import pathlib
    import re

    text = (pathlib.Path(theorem3.__file__).parents[2] / "book" / "theorem3.md").read_text()
    shown = dict(re.findall(r"\{glue:text\}`theorem3-(\w+):([.\w]+)`", text))
    assert {k: fmt for k, (_, fmt) in theorem3.SHOWN_CONSTANTS.items()} == {k: shown[k] for k in theorem3.SHOWN_CONSTANTS}


def test_upper_bound_is_an_equality_when_every_factor_is_nonnegative(unit_task):
    """For eta <= 1/L every r_i >= 0, so |F'| = t sum_i c_i^2 lambda_i^2 r_i^(2t-1) exactly."""
    eta, t = 0.7 / unit_task.L, 50
    value = l2lcore.meta_gradient(unit_task, eta, t, "naive")
    with mpmath.workdps(40):
        assert l2lcore.quadratic.exact.agree(abs(value), theorem3.theorem3_upper_bound(unit_task, eta, t), 25)


def test_theorem3_bounds_reject_what_they_do_not_cover(unit_task, figure1_task):
    with pytest.raises(ValueError, match=r"\|\|w_0\|\| = 1"):
        theorem3.theorem3_lower_bound(figure1_task, 1.0, 10)
    with pytest.raises(ValueError, match="2/L"):
        theorem3.naive_gradient_cells(unit_task, [2.0 / unit_task.L], [10])
    with pytest.raises(ValueError, match="t1 < t2"):
        theorem3.naive_growth_rate(unit_task, 0.1, 10, 10)


def test_bound_tightness_and_range_exit(unit_task):
    task = unit_task
    etas = np.array([0.5, 1.5, 3.0]) / task.L
    horizons = [1, 3, 10, 100, 1000]
    tight = {round(b.eta * task.L, 6): b for b in theorem3.bound_tightness(theorem3.naive_gradient_cells(task, etas, horizons))}
    assert np.allclose(tight[0.5].ratio, 1.0, rtol=1e-12) and tight[0.5].settled(1e-9) == 1
    assert np.all(tight[1.5].ratio <= 1 + 1e-12) and tight[3.0].upper is False
    lo, at = tight[3.0].worst()
    assert lo >= 1 and at in horizons
    exit_t = theorem3.float_range_exit(task, etas[2])
    tiny, huge = np.log10(np.finfo(np.float64).tiny), np.log10(np.finfo(np.float64).max)
    inside = lambda t: tiny <= theorem3.log10_abs(l2lcore.quadratic.exact.meta_gradient(task, etas[2], t, "naive")) <= huge
    assert inside(exit_t - 1) and not inside(exit_t)
    assert theorem3.float_range_exit(task, etas[2], np.float32) < exit_t


def test_log10_abs_handles_magnitudes_beyond_float_range():
    with mpmath.workdps(30):
        assert theorem3.log10_abs(mpmath.mpf("-1e-3000")) == pytest.approx(-3000)
    assert theorem3.log10_abs(mpmath.mpf(0)) == -np.inf


def test_difference_quotient_and_unrolled_loop_reproduce_the_closed_form(unit_task):
    """Where float64 cannot hold F' (above and below 2/L), two computations that do not use its
    formula agree with it to 20 digits."""
    task = unit_task
    for eta_L, t in ((3.0, 400), (1.9, 50), (0.5, 2000)):
        eta = eta_L / task.L
        closed = exact.meta_gradient(task, eta, t, "naive")
        with mpmath.workdps(60):
            assert exact.agree(theorem3.difference_quotient(task, eta, t), closed, 20)
    cells = theorem3.naive_gradient_cells(task, [3.0 / task.L, 0.5 / task.L], [10, 600])
    checks = theorem3.independent_checks(task, cells, 600)
    assert [(round(c.eta * task.L, 6), c.t) for c in checks] == [(3.0, 600)]  # only where float64 fails
    assert checks[0].unrolled is not None and checks[0].unrolled_rel < 1e-20 and checks[0].quotient_rel < 1e-20


def test_config_applies_the_paper_scale_and_rejects_bad_parameters():
    cfg = small_config()
    assert (cfg.t_max, cfg.n_grid) == (3000, 41) and cfg.horizons[0] == 1 and cfg.horizons[-1] == 3000
    paper = theorem3.config("paper", **{k: v for k, v in small_config().__dict__.items() if k != "scale"})
    assert (paper.t_max, paper.n_grid) == (100_000, 1201)
    for bad, match in ((dict(eta_L=[1.0, 2.0]), "eta_L"), (dict(eta_L=[]), "eta_L"), (dict(t_max=1), "t_max"),
                       (dict(n_grid=2), "n_grid"), (dict(close_tol=0.0), "close_tol"),
                       (dict(t_unrolled=-1), "t_unrolled")):
        with pytest.raises(ValueError, match=match):
            small_config(**bad)
    with pytest.raises(ValueError, match="scale"):
        theorem3.config("huge", **{k: v for k, v in small_config().__dict__.items() if k != "scale"})
