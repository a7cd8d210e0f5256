"""Proven enclosures (Arb ball arithmetic) contain the exact values, and guarantee their digits."""
from fractions import Fraction

import mpmath
import pytest

import l2lcore
from l2lcore import CertificationError
from l2lcore.quadratic import exact, proof
from oracle import rational_meta, regimes


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("t", [1, 3, 11])
def test_the_enclosure_contains_the_exact_rational_value_in_all_regimes(seed, t):
    task = l2lcore.QuadraticTask.random(3, seed)
    for name, eta in regimes(task).items():
        F, dF, dG = rational_meta(task.H, task.w0, eta, t)
        for objective, quantity, value in (("naive", "F", F), ("naive", "F'", dF), ("log", "G'", dG)):
            method = l2lcore.meta_objective if quantity == "F" else l2lcore.meta_gradient
            ball = method(task, eta, t, objective, method="proof")
            assert ball.contains(value), (name, quantity)
            assert ball.digits >= 30 and ball.relative, (name, quantity)


@pytest.mark.parametrize("t", [10, 1000, 10**6])
def test_the_enclosure_contains_the_certified_mpmath_value_up_to_a_million_steps(t):
    task = l2lcore.QuadraticTask.random(20, 0, "code")
    for eta in (0.5 / task.L, 1 / task.L, 2.1 / task.L):
        for quantity in proof.QUANTITIES:
            ball = proof.enclose(task, eta, t, quantity)
            certified = exact.certified(lambda dps: exact.closed_form(task.spectrum(dps), eta, t, quantity), 30, t)
            assert ball.contains(certified) or abs(ball.mid - certified) <= 1e-29 * abs(certified), quantity
            assert ball.digits >= 30, quantity


def test_the_radius_meets_the_requested_digits():
    task = l2lcore.QuadraticTask.random(5, 2)
    for digits in (5, 30, 80):
        ball = l2lcore.meta_gradient(task, 1 / task.L, 100, "log", method="proof", dps=digits)
        with mpmath.workdps(200):
            assert ball.rad <= mpmath.mpf(10) ** (-digits) * (abs(ball.mid) - ball.rad)
        assert ball.lo <= ball.mid <= ball.hi


def test_exact_step_sizes_stay_exact():
    task = l2lcore.QuadraticTask.random(3, 0)
    eta = Fraction(1, 3) / Fraction(task.L)
    F, dF, dG = rational_meta(task.H, task.w0, eta, 5)
    assert proof.enclose(task, eta, 5, "G'").contains(dG)
    with mpmath.workdps(50):
        e = mpmath.mpf(1) / 7
    assert proof.enclose(task, e, 5, "F").contains(exact.closed_form(task.spectrum(80), e, 5, "F"))


def test_at_a_root_no_relative_digits_exist_and_absolute_returns_the_ball():
    """H = diag(1, 5), w_0 = (5, 1): at eta = 1/3, r = (2/3, -2/3) and the two terms of F' and G'
    cancel exactly. eta = 1/3 is not binary, so its ball straddles the root at every precision."""
    import numpy as np

    task = l2lcore.QuadraticTask(np.diag([1.0, 5.0]), [5.0, 1.0])
    with pytest.raises(CertificationError, match="contains 0"):
        proof.enclose(task, Fraction(1, 3), 4, "G'")
    ball = proof.enclose(task, Fraction(1, 3), 4, "G'", absolute=True)
    assert not ball.relative and ball.digits == 0 and ball.contains(0)
    # H = diag(1, 3), w_0 = (3, 1), eta = 1/2 (binary): F' = 0 exactly, and the ball is the point 0
    point = proof.enclose(l2lcore.QuadraticTask(np.diag([1.0, 3.0]), [3.0, 1.0]), 0.5, 4, "F'")
    assert point.rad == 0 and point.mid == 0 and point.digits == exact.MAX_DIGITS


def test_the_minimizer_is_bracketed_by_proven_signs():
    task = l2lcore.QuadraticTask.random(20, 0, "code")
    b = proof.minimizer_bracket(task, 80, "log", 15)
    assert b.gradient_lo.hi < 0 < b.gradient_hi.lo
    assert b.contains(exact.minimizer(task, 80, "log"))
    with mpmath.workdps(30):
        assert b.width <= 3e-15 * b.hi
    assert proof.minimizer_bracket(task, 80, "naive", 10).contains(exact.minimizer(task, 80, "naive"))


def test_log_objective_at_exact_zero_loss_is_a_clear_error():
    import numpy as np

    task = l2lcore.QuadraticTask(np.array([[2.0, 1.0], [1.0, 2.0]]), [1.0, -1.0])
    with pytest.raises(ValueError, match="f\\(w_t\\) = 0 exactly at eta = 1.0"):
        proof.enclose(task, 1.0, 1, "G'")
    assert proof.enclose(task, 1.0, 1, "F'").contains(0)


@pytest.mark.parametrize("bad, match", [
    (dict(eta=-1.0), "eta must be >= 0"), (dict(eta=float("nan")), "eta must be finite"),
    (dict(t=2.5), "t must be a positive integer"), (dict(quantity="H"), "unknown quantity"),
    (dict(digits=0), "digits must be a positive integer"), (dict(digits=5000), "at most"),
    (dict(task=None), "task must be a QuadraticTask"), (dict(absolute="yes"), "absolute must be"),
])
def test_bad_input_is_a_value_error_naming_it(bad, match):
    args = dict(task=l2lcore.QuadraticTask.random(3, 0), eta=0.1, t=3, quantity="G'", digits=30, absolute=False)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        proof.enclose(**args)


def test_meta_descent_does_not_take_enclosures():
    with pytest.raises(ValueError, match="proof"):
        l2lcore.meta_descent(l2lcore.QuadraticTask.random(3, 0), 5, 0.1, 2, method="proof")


def test_a_minimizer_is_proven_only_to_the_digits_it_claims():
    task = l2lcore.QuadraticTask.random(20, 0, "code")
    star = exact.minimizer(task, 80, "log")
    with mpmath.workdps(40):
        off = star * (1 + mpmath.mpf(10) ** -20)
    good = proof.ExactValue(task, 80, "eta*", star, digits=25)
    bad = proof.ExactValue(task, 80, "eta*", off, digits=25)
    loose = proof.ExactValue(task, 80, "eta*", off, digits=15)
    result = proof.check([good, bad, loose])
    assert result.count == 3 and result.proven == 2 and len(result.outside) == 1
    assert proof.minimizer_bracket(task, 80, "log", 15, around=star).contains(star)


def test_containment_is_decided_exactly_and_decimal_strings_mean_their_decimal_value():
    import numpy as np

    task = l2lcore.QuadraticTask(np.diag([1.0, 3.0]), [1.0, 1.0])
    ball = proof.enclose(task, 0.1, 5, "F", 20)
    with mpmath.workprec(ball.prec + 1000):
        just_outside = ball.hi + abs(ball.mid) * mpmath.mpf(2) ** -(ball.prec + 300)
    assert just_outside > ball.hi and not ball.contains(just_outside)
    decimal = l2lcore.meta_gradient(task, "0.1", 5, method="proof")
    assert decimal.contains(rational_meta(task.H, task.w0, Fraction(1, 10), 5)[1])
    assert l2lcore.meta_gradient(task, np.array(0.1), 5, method="proof").contains(rational_meta(task.H, task.w0, 0.1, 5)[1])


def test_a_minimizer_claimed_to_30_digits_is_checked_to_30_digits():
    import numpy as np

    task = l2lcore.QuadraticTask(np.diag([1.0, 3.0]), [1.0, 1.0])
    star = exact.minimizer(task, 5, "log", 40)
    with mpmath.workdps(60):
        wrong = star * (1 + mpmath.mpf(10) ** -27)
    assert not proof.check([proof.ExactValue(task, 5, "eta*", wrong, digits=30)]).all_proven
    assert proof.check([proof.ExactValue(task, 5, "eta*", star, digits=30)]).all_proven
