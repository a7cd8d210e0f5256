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


def _task_balls(task: QuadraticTask, eta):
    """H, A = I - eta H and w_0 as Arb matrices at the current working precision (H and w_0 are
    float64, exact in binary; A is enclosed)."""
    flint = _flint()
    d = task.d
    H = flint.arb_mat([[flint.arb(float(v)) for v in row] for row in task.H])
    e = _to_arb(eta)
    A = flint.arb_mat(d, d, [(1 if i == j else 0) - e * H[i, j] for i in range(d) for j in range(d)])
    return H, A, flint.arb_mat(d, 1, [flint.arb(float(v)) for v in task.w0])


def _balls(task: QuadraticTask, eta, t: int, quantity: str, prec: int):
    """The ball of ``quantity`` at working precision ``prec`` (bits)."""
    flint = _flint()
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        H, A, w0 = _task_balls(task, eta)
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


# --------------------------------------------------------------------------- iterates and adjoints


@dataclass(frozen=True)
class Intermediates:
    """Proven enclosures of the squared norms of what backpropagation through the t unrolled
    steps stores at each step k of ``ks``: the iterates, ``state[j]`` = ||w_k||^2, and the
    adjoints, ``adjoint[j]`` = ||wbar_k||^2 (see :func:`intermediate_norms`)."""

    eta: object
    t: int
    objective: str
    ks: tuple
    state: tuple
    adjoint: tuple


def _power_table(A, k_max: int):
    """[A, A^2, A^4, ...]: the squarings that binary powering up to A^k_max needs."""
    table = [A]
    while (1 << len(table)) <= k_max:
        table.append(table[-1] * table[-1])
    return table


def _apply_power(table, k: int, v):
    """A^k v from the squarings of :func:`_power_table` (one matrix-vector product per set bit)."""
    j = 0
    while k:
        if k & 1:
            v = table[j] * v
        k >>= 1
        j += 1
    return v


def _intermediate_balls(task: QuadraticTask, eta, t: int, ks, objective: str, prec: int):
    flint = _flint()
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        H, A, w0 = _task_balls(task, eta)
        table = _power_table(A, 2 * t)

        def sq(v):
            return (v.transpose() * v)[0, 0]

        wt = _apply_power(table, t, w0)
        Hwt = H * wt
        if objective == "log":
            F = (wt.transpose() * Hwt)[0, 0] / 2
            if F.is_zero():
                raise ValueError(f"f(w_t) = 0 exactly at eta = {eta}: the log meta-objective is -infinity there")
            s2 = 1 / (t * F) ** 2
        else:
            s2 = flint.arb(1)
        H0 = H * w0  # H A^(2t-k) w_0 = A^(2t-k) H w_0: H commutes with A
        states = [sq(_apply_power(table, k, w0)) for k in ks]
        adjoints = [s2 * sq(_apply_power(table, 2 * t - k, H0)) for k in ks]
        return states, adjoints
    finally:
        flint.ctx.prec = old


def intermediate_norms(task: QuadraticTask, eta, t, ks, objective: str = "log",
                       digits: int = DEFAULT_DIGITS) -> Intermediates:
    """Proven enclosures of the squared norms of the iterates and adjoints of backpropagation
    through the t gradient steps, at the steps k of ``ks`` (0 <= k <= t), each to ``digits``
    significant digits.

    With A = I - eta H, the iterates are w_k = A^k w_0 and, for the meta-loss Delta = F
    (``objective="naive"``, s = 1) or Delta = (1/t) log F (``"log"``, s = 1/(t F)) with
    F = f(w_t) = 1/2 w_t^T H w_t, the adjoints are wbar_t = dDelta/dw_t = s H w_t and
    wbar_k = A^T wbar_{k+1} = s A^(t-k) H w_t = s H A^(2t-k) w_0 (A is symmetric and commutes
    with H). In the eigenbasis (r_i = 1 - eta lambda_i, c_i = <w_0, u_i>)

        ||w_k||^2    = w_0^T A^(2k) w_0           = sum_i c_i^2 r_i^(2k)
        ||wbar_k||^2 = s^2 w_0^T H A^(2(2t-k)) H w_0 = s^2 sum_i c_i^2 lambda_i^2 r_i^(2(2t-k)),

    the quantities of :func:`l2lcore.quadratic.exact.log10_intermediates`. They are computed
    here without an eigendecomposition: the squarings A, A^2, A^4, ... up to A^(2t) are formed
    once in ball arithmetic, and each A^k w_0 and A^(2t-k) H w_0 is a product of them applied
    to a vector. The precision doubles until every enclosure has ``digits`` digits, up to
    :data:`MAX_PREC`; then :class:`CertificationError` is raised.
    """
    if not isinstance(task, QuadraticTask):
        raise ValueError(f"task must be a QuadraticTask, got {type(task).__name__}")
    eta = _checks.eta(eta)
    t = _checks.positive_int(t, "t")
    ks = tuple(int(k) for k in _checks.indices(ks, "ks", t + 1, ndim=1))
    objective = _checks.objective(objective)
    digits = _checks.positive_int(digits, "digits")
    if digits > MAX_DIGITS:
        raise ValueError(f"at most {MAX_DIGITS} proven digits are supported, asked for {digits}")
    need = digits * math.log2(10) + 4
    prec = int(need + 4 * (2 * t).bit_length() + 64)
    while True:
        states, adjoints = _intermediate_balls(task, eta, t, ks, objective, prec)
        balls = states + adjoints
        if all(b.is_finite() and (b.rad() == 0 or b.rel_accuracy_bits() >= need) for b in balls):
            def enc(name, k, b):
                return Enclosure(name, eta, t, _to_mpf(b.mid()), _to_mpf(b.rad()), prec)

            return Intermediates(eta, t, objective, ks,
                                 tuple(enc(f"||w_{k}||^2", k, b) for k, b in zip(ks, states)),
                                 tuple(enc(f"||wbar_{k}||^2", k, b) for k, b in zip(ks, adjoints)))
        if 2 * prec > MAX_PREC:
            raise CertificationError(
                f"could not prove {digits} digits of the iterate and adjoint norms at eta = {eta}, t = {t} "
                f"with up to {prec} bits (a norm may be 0)")
        prec *= 2


# --------------------------------------------------------------------------- the spectrum


@dataclass(frozen=True)
class SpectrumEnclosure:
    """Proven enclosures of the eigenvalues lambda_1 > ... > lambda_d of H (descending; the
    balls are pairwise disjoint, so the order, L = lambda_1 and alpha = lambda_d are proven) and
    of the weights c_i^2 = <w_0, u_i>^2 of the start on the unit eigenvectors, each an
    :class:`Enclosure` (``quantity`` "lambda_i" or "c_i^2")."""

    lam: tuple
    csq: tuple

    @property
    def L(self) -> Enclosure:
        return self.lam[0]

    @property
    def alpha(self) -> Enclosure:
        return self.lam[-1]


def _eig_balls(task: QuadraticTask, prec: int):
    """(lambda_i, c_i^2) as arb balls at ``prec`` bits, lambda descending; None when the
    eigenvalues are not isolated (or their real parts overlap) at this precision.

    FLINT's ``acb_mat.eig`` (Rump's method) returns balls that provably contain the eigenvalues,
    each simple, and boxes that contain a corresponding eigenvector x_i (of some scaling), so
    c_i^2 = |<w_0, x_i>|^2 / ||x_i||^2 is enclosed whatever the scaling. H is symmetric, so the
    eigenvalues are real: their real parts carry the enclosure."""
    key = ("proof-eig", prec)
    if key in task._cache:
        return task._cache[key]
    flint = _flint()
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        d = task.d
        H = flint.acb_mat([[flint.acb(float(v)) for v in row] for row in task.H])
        try:
            E, R = H.eig(right=True, algorithm="rump")
        except ValueError:
            return None
        lam = [e.real for e in E]
        w0 = [flint.acb(float(v)) for v in task.w0]
        csq = []
        for j in range(d):
            col = [R[i, j] for i in range(d)]
            dot = sum((w0[i] * col[i].conjugate() for i in range(d)), flint.acb(0))
            # x * x, not x ** 2: Arb's power of a ball that contains 0 is nan
            norm = sum((col[i].real * col[i].real + col[i].imag * col[i].imag for i in range(d)), flint.arb(0))
            csq.append((dot.real * dot.real + dot.imag * dot.imag) / norm)
        order = sorted(range(d), key=lambda j: -float(lam[j].mid()))
        lam, csq = [lam[j] for j in order], [csq[j] for j in order]
        if any(not (a > b) for a, b in zip(lam, lam[1:])) or not all(x.is_finite() for x in lam + csq):
            return None
        out = (lam, csq)
    finally:
        flint.ctx.prec = old
    task._cache[key] = out
    return out


def power(x, n: int):
    """x^n for an Arb ball x and an integer n >= 0 by binary powering: unlike ``x ** n``, which
    is nan for a ball that contains 0, this is a valid enclosure for every ball."""
    n = _checks.nonnegative_int(n, "n")
    out = _flint().arb(1)
    while n:
        if n & 1:
            out = out * x
        n >>= 1
        if n:
            x = x * x
    return out


def ball(x):
    """x (a float, int, Fraction, mpf or decimal string) as an exact Arb ball, for the formulas
    passed to :func:`spectral`."""
    return _to_arb(_real(x, "x") if not isinstance(x, str) else x)


def spectral(task: QuadraticTask, formula, quantity: str, digits: int = DEFAULT_DIGITS,
             eta=None, t: int = 0) -> Enclosure:
    """A proven enclosure, to ``digits`` significant digits, of ``formula(lam, csq)``: a
    formula in the eigenvalues lambda_1 > ... > lambda_d of H and the weights c_i^2 of w_0
    (lists of Arb balls, see :class:`SpectrumEnclosure`) written with Arb arithmetic (``+``,
    ``*``, ``**``, ``abs``, ``.log()``; exact constants from :func:`ball`), e.g. Theorem 3's
    bound t sum_i c_i^2 lambda_i^2 |1 - eta lambda_i|^(2t-1). The eigenvalue enclosures come from
    FLINT's rigorous eigensolver (Rump's method), not from the eigen-free route of
    :func:`enclose`. ``quantity``, ``eta`` and ``t`` label the result. The precision doubles
    until the digits are reached, up to :data:`MAX_PREC`; then :class:`CertificationError`."""
    if not isinstance(task, QuadraticTask):
        raise ValueError(f"task must be a QuadraticTask, got {type(task).__name__}")
    if not callable(formula):
        raise ValueError(f"formula must be a function of (lam, csq), got {formula!r}")

    def one(lam, csq):
        b = formula(lam, csq)
        if not isinstance(b, _flint().arb):
            raise ValueError(f"formula must return an Arb ball, got {type(b).__name__}")
        return (b,)

    return spectral_values(task, one, quantity, digits, eta, t)[0]


def spectral_values(task: QuadraticTask, formula, quantity: str, digits: int = DEFAULT_DIGITS,
                    eta=None, t: int = 0) -> tuple:
    """As :func:`spectral`, for a ``formula(lam, csq)`` that returns a list or tuple of Arb
    balls (say a quantity at every step size of a grid, or several quantities built from the
    same sums): one :class:`Enclosure` per ball, each to ``digits`` significant digits, all at
    the same working precision, which doubles until every ball has its digits."""
    if not isinstance(task, QuadraticTask):
        raise ValueError(f"task must be a QuadraticTask, got {type(task).__name__}")
    if not callable(formula):
        raise ValueError(f"formula must be a function of (lam, csq), got {formula!r}")
    digits = _checks.positive_int(digits, "digits")
    if digits > MAX_DIGITS:
        raise ValueError(f"at most {MAX_DIGITS} proven digits are supported, asked for {digits}")
    t = _checks.nonnegative_int(t, "t")
    flint = _flint()
    need = digits * math.log2(10) + 4
    prec = max(128, int(need + 2 * (2 * t + 1).bit_length() + 64))
    while True:
        balls = _eig_balls(task, prec)
        if balls is not None:
            old = flint.ctx.prec
            flint.ctx.prec = prec
            try:
                bs = formula(list(balls[0]), list(balls[1]))
            finally:
                flint.ctx.prec = old
            if not isinstance(bs, (list, tuple)) or not all(isinstance(b, flint.arb) for b in bs):
                raise ValueError(f"formula must return a list or tuple of Arb balls, got {type(bs).__name__}")
            if all(b.is_finite() and (b.rad() == 0 or b.rel_accuracy_bits() >= need) for b in bs):
                return tuple(Enclosure(quantity, eta, t, _to_mpf(b.mid()), _to_mpf(b.rad()), prec) for b in bs)
        if 2 * prec > MAX_PREC:
            raise CertificationError(f"could not prove {digits} digits of {quantity} with up to {prec} bits"
                                     + (": the eigenvalues of H are not isolated" if balls is None else ""))
        prec *= 2


def spectrum(task: QuadraticTask, digits: int = DEFAULT_DIGITS) -> SpectrumEnclosure:
    """Proven enclosures of every lambda_i and c_i^2 (see :class:`SpectrumEnclosure`)."""
    if not isinstance(task, QuadraticTask):
        raise ValueError(f"task must be a QuadraticTask, got {type(task).__name__}")
    d = task.d
    lam = tuple(spectral(task, lambda l, c, i=i: l[i], f"lambda_{i + 1}", digits) for i in range(d))
    csq = tuple(spectral(task, lambda l, c, i=i: c[i], f"c_{i + 1}^2", digits) for i in range(d))
    return SpectrumEnclosure(lam, csq)


def _c_min_sq(lam, csq):
    """min(c_1^2, c_d^2) in ball arithmetic (Arb's rigorous min of two balls)."""
    return csq[0].min(csq[-1])


#: Constants of the task in the paper's symbols, as formulas for :func:`spectral`:
#: ||w_0|| is sqrt(sum_i c_i^2); the "unit" start is w_0 / ||w_0|| (Theorem 4 assumes ||w_0|| = 1).
CONSTANTS = {
    "L": lambda l, c: l[0],
    "alpha": lambda l, c: l[-1],
    "c_1^2": lambda l, c: c[0],
    "c_d^2": lambda l, c: c[-1],
    "c_min": lambda l, c: _c_min_sq(l, c).sqrt(),
    "||w_0||": lambda l, c: sum(c[1:], c[0]).sqrt(),
    "c_min (unit w_0)": lambda l, c: (_c_min_sq(l, c) / sum(c[1:], c[0])).sqrt(),
    "L/alpha": lambda l, c: l[0] / l[-1],
    "alpha/L": lambda l, c: l[-1] / l[0],
    "2/(L+alpha)": lambda l, c: 2 / (l[0] + l[-1]),
    "2L/(L+alpha)": lambda l, c: 2 * l[0] / (l[0] + l[-1]),
    "(L-alpha)/(L+alpha)": lambda l, c: (l[0] - l[-1]) / (l[0] + l[-1]),
    "L^3/(c_min^2 alpha (L-alpha))": lambda l, c: l[0] ** 3 * sum(c[1:], c[0]) / (_c_min_sq(l, c) * l[-1] * (l[0] - l[-1])),
}


def constant(task: QuadraticTask, name: str, digits: int = DEFAULT_DIGITS) -> Enclosure:
    """A proven enclosure of one of the task's :data:`CONSTANTS` (L, alpha, c_min, Theorem 4's
    scale L^3/(c_min^2 alpha (L - alpha)) with c_min of the unit start, ...)."""
    if name not in CONSTANTS:
        raise ValueError(f"name must be one of the constants {tuple(CONSTANTS)}, got {name!r}")
    return spectral(task, CONSTANTS[name], name, digits)


def contraction(task: QuadraticTask, eta, digits: int = DEFAULT_DIGITS) -> Enclosure:
    """S(eta) = max_i |1 - eta lambda_i| over the i with c_i != 0 (each c_i^2 must be proven
    nonzero, else :class:`CertificationError`), proven to ``digits`` digits."""
    eta = _checks.eta(eta)

    def formula(lam, csq):
        if any(c.contains(0) for c in csq):
            return _flint().arb("nan")
        e = ball(eta)
        terms = [abs(1 - e * x) for x in lam]
        out = terms[0]
        for x in terms[1:]:
            out = out.max(x)
        return out

    return spectral(task, formula, "S(eta)", digits, eta)


# --------------------------------------------------------------------------- shown digits


def _shown_unit(text: str) -> Fraction:
    """The unit of the last digit of a decimal ``text`` such as '12.35', '1.2e-05' or '3'."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return Fraction(10) ** (int(exponent or 0) - decimals)


def shown_correctly(enclosure: Enclosure, value, fmt: str) -> bool:
    """Whether ``format(value, fmt)`` (fmt an 'f', 'e' or 'g' format such as '.2f') is the proven
    exact value correctly rounded: the whole ball lies within half a unit of the last shown digit
    of the shown decimal, decided in rational arithmetic. (A value within the ball's radius of a
    rounding boundary cannot be decided, and counts as not shown correctly.)"""
    if not isinstance(fmt, str) or not fmt or fmt[-1] not in "efg":
        raise ValueError(f"fmt must be an 'e', 'f' or 'g' format such as '.2f', got {fmt!r}")
    value = _real(value, "value")
    text = format(float(value) if isinstance(value, mpmath.mpf) else value, ("#" + fmt) if fmt[-1] == "g" else fmt)
    shown, half = Fraction(text.rstrip(".")), _shown_unit(text.rstrip(".")) / 2
    mid, rad = _exact(enclosure.mid), _exact(enclosure.rad)
    return shown - half <= mid - rad and mid + rad <= shown + half


def combine(*checks: ProofCheck) -> ProofCheck:
    """Several :class:`ProofCheck` results as one (counts added, values outside concatenated)."""
    for c in checks:
        if not isinstance(c, ProofCheck):
            raise ValueError(f"checks must be ProofCheck objects, got {type(c).__name__}")
    return ProofCheck(sum(c.count for c in checks), sum(c.proven for c in checks),
                      tuple(x for c in checks for x in c.outside))


def tally(results) -> ProofCheck:
    """A :class:`ProofCheck` from ``(label, ok)`` pairs: each label whose check failed is outside."""
    results = list(results)
    outside = tuple(label for label, ok in results if not ok)
    return ProofCheck(len(results), len(results) - len(outside), outside)


def as_ball(enclosure: Enclosure):
    """An :class:`Enclosure` as an Arb ball that contains it (mid +- rad, rounded outward), for
    the formulas passed to :func:`spectral`."""
    return _to_arb(enclosure.mid) + _to_arb(enclosure.rad) * _flint().arb(0, 1)


def log10(enclosure: Enclosure) -> Enclosure:
    """A proven enclosure of log10 x for every x in a proven ``enclosure`` of a positive value
    (Arb's logarithm of the ball); ValueError when the ball is not provably positive."""
    if not isinstance(enclosure, Enclosure):
        raise ValueError(f"enclosure must be an Enclosure, got {type(enclosure).__name__}")
    flint = _flint()
    old = flint.ctx.prec
    flint.ctx.prec = enclosure.prec + 64
    try:
        x = as_ball(enclosure)
        if not x > 0:
            raise ValueError(f"log10 needs a provably positive enclosure, got {enclosure.mid} +- {enclosure.rad}")
        b = x.log() / flint.arb(10).log()
    finally:
        flint.ctx.prec = old
    return Enclosure(f"log10 {enclosure.quantity}", enclosure.eta, enclosure.t, _to_mpf(b.mid()),
                     _to_mpf(b.rad()), enclosure.prec + 64, enclosure.relative)


def arithmetic(formula, quantity: str, digits: int = DEFAULT_DIGITS, prec: int = 256, eta=None,
               t: int = 0) -> Enclosure:
    """A proven enclosure of ``formula()``, an expression in Arb balls (from :func:`ball` and
    :func:`as_ball` of other enclosures) evaluated at ``prec`` bits: for quantities derived from
    proven ones, such as a slope between two proven logarithms. :class:`CertificationError` when
    the result does not have ``digits`` significant digits (the inputs' radii bound them)."""
    if not callable(formula):
        raise ValueError(f"formula must be a function of no arguments, got {formula!r}")
    digits = _checks.positive_int(digits, "digits")
    prec = _checks.positive_int(prec, "prec")
    flint = _flint()
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        b = formula()
    finally:
        flint.ctx.prec = old
    if not isinstance(b, flint.arb):
        raise ValueError(f"formula must return an Arb ball, got {type(b).__name__}")
    if not (b.is_finite() and (b.rad() == 0 or b.rel_accuracy_bits() >= digits * math.log2(10) + 4)):
        raise CertificationError(f"{quantity}: the enclosure {b.str(5, radius=True)} has fewer than {digits} digits")
    return Enclosure(quantity, eta, t, _to_mpf(b.mid()), _to_mpf(b.rad()), prec)
