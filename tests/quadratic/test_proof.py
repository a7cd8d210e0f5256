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


@pytest.mark.parametrize("objective", ["log", "naive"])
@pytest.mark.parametrize("t", [1, 4, 9])
def test_the_norms_of_iterates_and_adjoints_contain_the_exact_rational_values(objective, t):
    """||w_k||^2 = ||A^k w_0||^2 and ||wbar_k||^2 = s^2 ||H A^(2t-k) w_0||^2 (matrix powers in
    ball arithmetic) contain the norms of an exact forward and backward pass, in every regime."""
    from oracle import rational_norms

    task = l2lcore.QuadraticTask.random(3, 1)
    for name, eta in regimes(task).items():
        states, adjoints = rational_norms(task.H, task.w0, eta, t, objective)
        norms = proof.intermediate_norms(task, eta, t, range(t + 1), objective, digits=25)
        assert norms.ks == tuple(range(t + 1))
        for k in range(t + 1):
            assert norms.state[k].contains(states[k]) and norms.state[k].digits >= 25, (name, k)
            assert norms.adjoint[k].contains(adjoints[k]) and norms.adjoint[k].digits >= 25, (name, k)


def test_the_norms_agree_with_the_mpmath_closed_form_at_long_horizons():
    task = l2lcore.QuadraticTask.random(20, 0)
    for eta_L, t in ((1.0, 20_000), (2.2, 2_500)):
        eta, ks = eta_L / task.L, [0, 1, t // 3, t - 1, t]
        norms = proof.intermediate_norms(task, eta, t, ks, digits=20)
        ref = exact.log10_intermediates(task, eta, t, ks, "log", 60)
        with mpmath.workdps(60):
            for j in range(len(ks)):
                assert abs(mpmath.log10(norms.state[j].mid) / 2 - ref["state"][j]) < 1e-18
                assert abs(mpmath.log10(norms.adjoint[j].mid) / 2 - ref["adjoint"][j]) < 1e-18


@pytest.mark.parametrize("bad, match", [
    (dict(ks=[0, 5]), "ks"), (dict(ks=[-1]), "ks"), (dict(ks=[0.5]), "ks"), (dict(t=0), "t"),
    (dict(objective="cubic"), "objective"), (dict(digits=0), "digits"), (dict(eta=-1.0), "eta"),
])
def test_bad_input_to_the_norms_is_a_value_error_naming_it(bad, match):
    task = l2lcore.QuadraticTask.random(3, 0)
    args = dict(eta=0.1, t=4, ks=[0, 4], objective="log", digits=10) | bad
    with pytest.raises(ValueError, match=match):
        proof.intermediate_norms(task, **args)


def test_the_spectrum_is_enclosed_and_its_identities_hold_exactly():
    """Rigorous eigenvalue and eigenvector enclosures (Rump's method): sum lambda_i = trace H,
    sum c_i^2 = ||w_0||^2 and sum c_i^2 lambda_i r_i^(2t) / 2 = F (the rational oracle) lie in
    the enclosures built from them, and they agree with the mpmath eigendecomposition."""
    task = l2lcore.QuadraticTask.random(4, 3)
    spec = proof.spectrum(task, 30)
    ref = task.spectrum(60)
    for ball, lam, csq, c in zip(spec.lam, ref.lam, ref.csq, spec.csq):
        assert ball.contains(lam) or abs(ball.mid - lam) <= 1e-29 * lam
        assert c.contains(csq) or abs(c.mid - csq) <= 1e-29 * csq
    H, w0 = task.H.tolist(), task.w0.tolist()
    trace = sum(Fraction(H[i][i]) for i in range(4))
    assert proof.spectral(task, lambda l, c: sum(l[1:], l[0]), "trace", 30).contains(trace)
    assert proof.spectral(task, lambda l, c: sum(c[1:], c[0]), "||w0||^2", 30).contains(
        sum(Fraction(x) ** 2 for x in w0))
    eta, t = regimes(task)["above 2/L"], 5
    F = rational_meta(task.H, task.w0, eta, t)[0]
    e = proof.ball(eta)
    assert proof.spectral(task, lambda l, c: sum(ci * li * proof.power(1 - e * li, 2 * t) for li, ci in zip(l, c)) / 2,
                          "F", 30, eta, t).contains(F)
    assert spec.L.mid > spec.lam[1].mid and spec.alpha is spec.lam[-1]


def test_the_constants_are_shown_correctly_only_when_their_digits_are_proven():
    task = l2lcore.QuadraticTask.random(20, 0, "code")
    L = proof.constant(task, "L")
    assert proof.shown_correctly(L, task.L, ".2f") and not proof.shown_correctly(L, task.L + 0.01, ".2f")
    scale = proof.constant(task, "L^3/(c_min^2 alpha (L-alpha))")
    assert proof.shown_correctly(scale, task.theorem4_scale(), ".2e")
    assert proof.shown_correctly(proof.constant(task, "c_min"), task.c_min, ".3f")
    assert proof.agrees(proof.constant(task, "2/(L+alpha)"), 2 / (task.L + task.alpha), 12)
    S = proof.contraction(task, 1.5 / task.L)
    assert proof.agrees(S, max(abs(1 - 1.5 / task.L * task.eigenvalues)), 12)
    assert proof.shown_correctly(proof.log10(S), float(mpmath.log10(S.mid)), ".6f")
    with pytest.raises(ValueError, match="fmt"):
        proof.shown_correctly(L, task.L, ".2%")
    with pytest.raises(ValueError, match="constant"):
        proof.constant(task, "kappa")
    with pytest.raises(ValueError, match="positive"):
        proof.log10(proof.enclose(task, 1 / task.L, 3, "G'"))
    assert proof.power(proof.ball(0), 0) == 1 and proof.power(proof.ball("-0.5"), 3).contains(proof.ball("-0.125"))


def test_several_spectral_values_at_once_are_the_single_ones():
    """spectral_values encloses a list of formulas at one precision: each enclosure contains the
    exact rational F at its step size, and agrees with spectral's; a formula that does not
    return Arb balls is a ValueError."""
    task = l2lcore.QuadraticTask.random(4, 3)
    t, etas = 5, list(regimes(task).values())

    def F(lam, csq, eta):
        e = proof.ball(eta)
        return sum(ci * li * proof.power(1 - e * li, 2 * t) for li, ci in zip(lam, csq)) / 2

    balls = proof.spectral_values(task, lambda l, c: [F(l, c, eta) for eta in etas], "F", 30, t=t)
    assert len(balls) == len(etas)
    for eta, ball in zip(etas, balls):
        assert ball.contains(rational_meta(task.H, task.w0, eta, t)[0]) and ball.digits >= 30
        assert proof.agrees(proof.spectral(task, lambda l, c, eta=eta: F(l, c, eta), "F", 30, t=t), ball.mid, 30)
    with pytest.raises(ValueError, match="list or tuple of Arb balls"):
        proof.spectral_values(task, lambda l, c: l[0], "x")
    with pytest.raises(ValueError, match="Arb ball"):
        proof.spectral(task, lambda l, c: [l[0]], "x")
    assert proof.shown_correctly(proof.constant(task, "alpha/L"), task.alpha / task.L, ".12g")
    assert proof.shown_correctly(proof.constant(task, "2L/(L+alpha)"), 2 * task.L / (task.L + task.alpha), ".12g")
