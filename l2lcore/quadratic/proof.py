"""Proven enclosures of the exact meta-objectives and meta-gradients, in ball arithmetic (Arb).

The ``"exact"`` methods (:mod:`.exact`) are *certified*: two mpmath evaluations at different
precisions agree. That is strong evidence, not a proof. Here every operation is done in FLINT's
Arb ball arithmetic (the ``python-flint`` package), which carries a rigorous error radius, so
the result is an interval that provably contains the true value for the exact binary inputs:
the float64 entries of H and w_0, and eta as given (a float64, a Fraction, an mpf or an int).

No eigendecomposition is used. With A = I - eta H (which commutes with H) and u = A^(t-1) w_0,
computed by repeated squaring of A (O(d^3 log t) ball operations),

    F   = 1/2 u^T A H A u                    = 1/2 sum_i c_i^2 lambda_i r_i^(2t)
    F'  = -t u^T A H^2 u                     = -t sum_i c_i^2 lambda_i^2 r_i^(2t-1)
    F'' = t (2t-1) u^T H^3 u                 = t (2t-1) sum_i c_i^2 lambda_i^3 r_i^(2t-2)
    P_k = u^T H^(k+1) A^(2-k) u              = sum_i c_i^2 lambda_i^(k+1) r_i^(2t-k)   (k = 0, 1, 2)
    G   = (1/t) log F,   G' = -2 P_1 / P_0,   G'' = 2 (2t-1) P_2/P_0 - 4t (P_1/P_0)^2

(r_i = 1 - eta lambda_i, c_i = <w_0, u_i>), the same quantities as :mod:`.exact` defines. This
route is independent of the mpmath closed form, which works in a high-precision eigenbasis, so
each checks the other. The working precision is raised until the radius guarantees the requested
significant digits, or :class:`~l2lcore.quadratic.exact.CertificationError` says why not (a value
at or near 0, such as G' at its root, has no relative digits to guarantee: ``absolute=True``
returns the enclosure anyway, marked as absolute).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np

from .. import _checks
from .exact import DEFAULT_DIGITS, MAX_DIGITS, CertificationError, minimizer
from .task import QuadraticTask

QUANTITIES = ("F", "F'", "F''", "G", "G'", "G''")
#: The largest working precision tried, in bits (about 4000 decimal digits, as :mod:`.exact`).
MAX_PREC = 13_300


def _flint():
    import flint

    return flint


@dataclass(frozen=True)
class Enclosure:
    """A ball [mid - rad, mid + rad] that provably contains ``quantity`` at (eta, t).

    ``mid`` and ``rad`` are the ball's exact binary endpoints data as ``mpmath.mpf`` (no
    rounding), ``prec`` the working precision in bits that produced it, and ``relative`` is
    False when the enclosure was returned on request without its relative digits guaranteed.
    """

    quantity: str
    eta: object
    t: int
    mid: mpmath.mpf
    rad: mpmath.mpf
    prec: int
    relative: bool = True

    @property
    def lo(self) -> mpmath.mpf:
        with mpmath.workprec(self.prec + 64):
            return self.mid - self.rad

    @property
    def hi(self) -> mpmath.mpf:
        with mpmath.workprec(self.prec + 64):
            return self.mid + self.rad

    @property
    def digits(self) -> int:
        """Correct significant digits guaranteed: the largest n with rad <= 10^-n (|mid| - rad);
        0 when the ball contains 0 (unless it is the exact point 0)."""
        with mpmath.workprec(self.prec + 64):
            if self.rad == 0:
                return MAX_DIGITS
            low = abs(self.mid) - self.rad
            if low <= 0:
                return 0
            return max(0, int(mpmath.floor(-mpmath.log10(self.rad / low))))

    def contains(self, x) -> bool:
        """Whether the exact value of ``x`` (float, int, Fraction, mpf or numpy scalar) lies in
        the ball; compared exactly, in rational arithmetic."""
        value, mid, rad = _exact(_real(x, "x")), _exact(self.mid), _exact(self.rad)
        return mid - rad <= value <= mid + rad


def _real(x, name: str):
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, mpmath.mpf)):
        raise ValueError(f"{name} must be a real number, got {x!r}")
    if isinstance(x, mpmath.mpf) and not mpmath.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if isinstance(x, float) and not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return x


def _exact(x) -> Fraction:
    """x as an exact rational: floats, numpy scalars and mpf are binary fractions."""
    if isinstance(x, mpmath.mpf):
        sign, man, exp, _ = x._mpf_
        value = Fraction(int(man)) * (Fraction(2) ** int(exp))
        return -value if sign else value
    if isinstance(x, np.floating):
        return Fraction(*x.as_integer_ratio())
    if isinstance(x, np.integer):
        return Fraction(int(x))
    return Fraction(x)


def _to_arb(x):
    """x as an exact arb ball (a point when x is binary; Fractions get a tight rigorous ball)."""
    flint = _flint()
    if isinstance(x, str):  # a decimal string means its decimal value, as for the exact methods
        x = Fraction(x)
    if isinstance(x, Fraction):
        return flint.arb(flint.fmpq(x.numerator, x.denominator))
    if isinstance(x, mpmath.mpf):
        sign, man, exp, _ = x._mpf_
        if not man and exp:  # inf or nan: _checks.eta rejects them before
            raise ValueError(f"cannot enclose {x!r}")
        value = flint.arb(flint.fmpz(int(man))) * flint.arb(2) ** int(exp) if man else flint.arb(0)
        return -value if sign else value
    if isinstance(x, np.floating):
        num, den = x.as_integer_ratio()
        return flint.arb(flint.fmpq(num, den))
    if isinstance(x, numbers.Integral):
        return flint.arb(flint.fmpz(int(x)))
    return flint.arb(float(x))  # a float64 converts exactly


def _to_mpf(x) -> mpmath.mpf:
    """An exact arb midpoint or radius (a binary number) as an mpf, without rounding."""
    man, exp = x.man_exp()
    man = int(man)
    with mpmath.workprec(max(53, man.bit_length() + 8)):
        return mpmath.ldexp(mpmath.mpf(man), int(exp))


def _power_times(A, k: int, v):
    """A^k v by binary powering: log2 k squarings of A, and a matrix-vector product for each
    set bit of k (half the matrix products of forming A^k first)."""
    while k:
        if k & 1:
            v = A * v
        k >>= 1
        if k:
            A = A * A
    return v


def _balls(task: QuadraticTask, eta, t: int, quantity: str, prec: int):
    """The ball of ``quantity`` at working precision ``prec`` (bits)."""
    flint = _flint()
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        d = task.d
        H = flint.arb_mat([[flint.arb(float(v)) for v in row] for row in task.H])
        e = _to_arb(eta)
        A = flint.arb_mat(d, d, [(1 if i == j else 0) - e * H[i, j] for i in range(d) for j in range(d)])
        w0 = flint.arb_mat(d, 1, [flint.arb(float(v)) for v in task.w0])
        u = _power_times(A, t - 1, w0)
        Hu = H * u
        H2u = H * Hu

        def dot(a, b):
            return (a.transpose() * b)[0, 0]

        if quantity == "F''":
            return t * (2 * t - 1) * dot(Hu, H2u)
        Au, AHu = A * u, A * Hu
        P0 = dot(Au, H * Au)               # u^T A H A u
        if quantity == "F":
            return P0 / 2
        P1 = dot(AHu, Hu)                  # u^T A H^2 u
        if quantity == "F'":
            return -t * P1
        if P0.is_zero():  # exactly zero (rad 0): proven, not an unresolved ball
            raise ValueError(f"f(w_t) = 0 exactly at eta = {eta}: the log meta-objective is -infinity there")
        if P0.contains(0) and not P0.is_zero():
            return flint.arb("nan")  # the precision loop raises it, or says f(w_t) may be 0
        if quantity == "G":
            return (P0 / 2).log() / t
        if quantity == "G'":
            return -2 * P1 / P0
        P2 = dot(Hu, H2u)                  # u^T H^3 u
        return 2 * (2 * t - 1) * P2 / P0 - 4 * t * (P1 / P0) ** 2
    finally:
        flint.ctx.prec = old


def enclose(task: QuadraticTask, eta, t, quantity: str, digits: int = DEFAULT_DIGITS,
            absolute: bool = False) -> Enclosure:
    """A proven enclosure of ``quantity`` ("F", "F'", "F''", "G", "G'" or "G''") at (eta, t)
    whose radius guarantees ``digits`` correct significant digits.

    The precision starts at about digits * log2(10) + 2 log2(t) + 64 bits and doubles until
    the radius is small enough, up to :data:`MAX_PREC`; then :class:`CertificationError` is
    raised, unless ``absolute=True``, which returns the last enclosure with ``relative=False``.
    """
    if not isinstance(task, QuadraticTask):
        raise ValueError(f"task must be a QuadraticTask, got {type(task).__name__}")
    eta = _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; choose one of {QUANTITIES}")
    digits = _checks.positive_int(digits, "digits")
    if digits > MAX_DIGITS:
        raise ValueError(f"at most {MAX_DIGITS} proven digits are supported, asked for {digits}")
    if not isinstance(absolute, bool):
        raise ValueError(f"absolute must be True or False, got {absolute!r}")
    need = digits * math.log2(10) + 4
    prec = int(need + 2 * t.bit_length() + 32)
    while True:
        ball = _balls(task, eta, t, quantity, prec)
        if ball.is_finite() and (ball.rad() == 0 or ball.rel_accuracy_bits() >= need):
            return Enclosure(quantity, eta, t, _to_mpf(ball.mid()), _to_mpf(ball.rad()), prec)
        if 2 * prec > MAX_PREC:
            if absolute and ball.is_finite():
                return Enclosure(quantity, eta, t, _to_mpf(ball.mid()), _to_mpf(ball.rad()), prec, relative=False)
            if not ball.is_finite():
                raise CertificationError(
                    f"could not prove {quantity} at eta = {eta}, t = {t} with up to {prec} bits: f(w_t) is "
                    "not provably nonzero there (the log meta-objective may be undefined)")
            raise CertificationError(
                f"could not prove {digits} significant digits of {quantity} at eta = {eta}, t = {t} with up "
                f"to {prec} bits: the enclosure {ball.str(5, radius=True)} "
                + ("contains 0 (a root has no relative digits; absolute=True returns it anyway)"
                   if ball.contains(0) else "is too wide"))
        prec *= 2


def meta_objective(task, eta, t, objective: str = "naive", digits: int = DEFAULT_DIGITS,
                   absolute: bool = False) -> Enclosure:
    """Proven F(eta) (naive) or G(eta) = (1/t) log F(eta) (log)."""
    quantity = {"naive": "F", "log": "G"}[_checks.objective(objective)]
    return enclose(task, eta, t, quantity, digits, absolute)


def meta_gradient(task, eta, t, objective: str = "naive", digits: int = DEFAULT_DIGITS,
                  absolute: bool = False) -> Enclosure:
    """Proven F'(eta) (naive) or G'(eta) (log)."""
    quantity = {"naive": "F'", "log": "G'"}[_checks.objective(objective)]
    return enclose(task, eta, t, quantity, digits, absolute)


@dataclass(frozen=True)
class Bracket:
    """Two step sizes lo < hi at which the proven meta-gradient has opposite signs (negative at
    lo, positive at hi), so the unique minimizer eta*(t) lies strictly between them."""

    objective: str
    t: int
    lo: mpmath.mpf
    hi: mpmath.mpf
    gradient_lo: Enclosure
    gradient_hi: Enclosure

    @property
    def width(self) -> mpmath.mpf:
        with mpmath.workprec(max(self.gradient_lo.prec, 53) + 64):
            return self.hi - self.lo

    def contains(self, eta) -> bool:
        return _exact(self.lo) < _exact(_real(eta, "eta")) < _exact(self.hi)


def minimizer_bracket(task: QuadraticTask, t, objective: str = "log", digits: int = 15, around=None) -> Bracket:
    """Prove where eta*(t) lies: around ``around`` (default: the certified minimizer,
    :func:`.exact.minimizer`), find lo < hi, about 10^-digits apart relative to eta*, where the
    proven meta-gradient is negative at lo and positive at hi (widening tenfold while a sign is
    not proven)."""
    if not isinstance(task, QuadraticTask):
        raise ValueError(f"task must be a QuadraticTask, got {type(task).__name__}")
    t = _checks.positive_int(t, "t")
    quantity = {"naive": "F'", "log": "G'"}[_checks.objective(objective)]
    digits = _checks.positive_int(digits, "digits")
    if digits > 200:
        raise ValueError(f"digits must be at most 200 for a bracket, got {digits}")
    if around is not None:
        around = _real(around, "around")
        if not around > 0:
            raise ValueError(f"around must be > 0 (a step size), got {around!r}")
    star = minimizer(task, t, objective, digits + 5) if around is None else _checks.to_mpf(around)
    with mpmath.workdps(digits + 40):
        for k in range(digits, 0, -1):
            delta = mpmath.mpf(10) ** (-k) * star
            lo, hi = star - delta, star + delta
            g_lo = enclose(task, lo, t, quantity, 1, absolute=True)
            g_hi = enclose(task, hi, t, quantity, 1, absolute=True)
            if g_lo.hi < 0 < g_hi.lo:
                return Bracket(objective, t, +lo, +hi, g_lo, g_hi)
    raise CertificationError(f"could not bracket eta*({t}) of the {objective} objective by proven signs")


@dataclass(frozen=True)
class ExactValue:
    """An exact value a chapter shows: ``quantity`` ("F", "F'", "F''", "G", "G'", "G''", or
    "eta*" for the minimizer of ``objective``'s meta-objective) of ``task`` at (eta, t), and the
    ``value`` (mpf, certified to ``digits`` significant digits) the chapter computed."""

    task: QuadraticTask
    t: int
    quantity: str
    value: object
    eta: object = None
    objective: str = "log"
    digits: int = DEFAULT_DIGITS


@dataclass(frozen=True)
class ProofCheck:
    """How many exact values were checked against proven enclosures, and which were not inside."""

    count: int
    proven: int
    outside: tuple

    @property
    def all_proven(self) -> bool:
        return self.count > 0 and self.proven == self.count


def agrees(ball: Enclosure, value, digits: int) -> bool:
    """Whether ``value`` (claimed correct to ``digits`` significant digits) is consistent with the
    proven ball: |value - mid| <= rad + 10^-digits |value|, in exact rational arithmetic."""
    v = _exact(_real(value, "value"))
    return abs(v - _exact(ball.mid)) <= _exact(ball.rad) + Fraction(1, 10**digits) * abs(v)


def _brackets_root(v: ExactValue) -> bool:
    """The proven meta-gradient is negative just below the value and positive just above it,
    10^-digits away relative: eta* lies within the value's claimed digits."""
    quantity = {"naive": "F'", "log": "G'"}[_checks.objective(v.objective)]
    k = v.digits
    with mpmath.workdps(k + 40):
        star = _checks.to_mpf(_real(v.value, "value"))
        delta = mpmath.mpf(10) ** (-k) * star
        lo, hi = star - delta, star + delta
        return bool(enclose(v.task, lo, v.t, quantity, 1, absolute=True).hi < 0
                    < enclose(v.task, hi, v.t, quantity, 1, absolute=True).lo)


def check(values) -> ProofCheck:
    """Check each :class:`ExactValue` against a proven enclosure (a bracket for "eta*"): the
    certified value must agree with the proof to its certified digits."""
    values = list(values)
    outside = []
    for v in values:
        if not isinstance(v, ExactValue):
            raise ValueError(f"values must be ExactValue objects, got {type(v).__name__}")
        if v.quantity == "eta*":
            ok = _brackets_root(v)
        else:
            ok = agrees(enclose(v.task, v.eta, v.t, v.quantity, v.digits, absolute=True), v.value, v.digits)
        if not ok:
            outside.append((v.quantity, v.eta, v.t))
    return ProofCheck(len(values), len(values) - len(outside), tuple(outside))
