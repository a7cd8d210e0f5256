"""Float backprop and forward mode: equal to exact while in range, broken where predicted."""
import math

import mpmath
import numpy as np
import pytest

import l2lcore
from l2lcore.quadratic import backprop as bp


@pytest.fixture(scope="module")
def task():
    return l2lcore.QuadraticTask.random(6, 11)


def rho(task, eta):
    return max(abs(1 - eta * task.L), abs(1 - eta * task.alpha))


@pytest.mark.parametrize("objective", ["naive", "log"])
@pytest.mark.parametrize("method", ["backprop", "forward"])
def test_float64_equals_exact_while_every_intermediate_is_in_range(task, objective, method):
    for eta in [0.3 / task.L, 2 / (task.L + task.alpha), 2.1 / task.L]:
        t = 40
        trace = l2lcore.meta_gradient(task, eta, t, objective, "backprop", trace=True)
        assert trace.first_out_of_range is None
        got = l2lcore.meta_gradient(task, eta, t, objective, method)
        want = l2lcore.meta_gradient(task, eta, t, objective)
        assert abs(float(got) - float(want)) <= 1e-9 * abs(float(want))


def test_trace_value_is_the_vectorised_value(task):
    etas = np.array([0.2, 1.0, 2.3]) / task.L
    for dtype in (np.float32, np.float64):
        batch = bp.backprop(task, etas, 300, "log", dtype)
        single = [l2lcore.meta_gradient(task, e, 300, "log", "backprop", dtype=dtype) for e in etas]
        np.testing.assert_array_equal(batch, np.array(single, dtype=dtype))
        assert batch.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_objective_breaks_when_the_trajectory_overflows(task, dtype):
    """eta > 2/L: ||w_k|| ~ rho^k, so the forward pass overflows near k = log(max)/log(rho)."""
    eta = 2.5 / task.L
    k_over = math.log10(np.finfo(dtype).max) / math.log10(rho(task, eta))
    ok = l2lcore.meta_gradient(task, eta, int(0.4 * k_over), "log", "backprop", dtype=dtype, trace=True)
    assert ok.first_out_of_range is None and ok.finite
    broken = l2lcore.meta_gradient(task, eta, int(1.2 * k_over), "log", "backprop", dtype=dtype, trace=True)
    assert not broken.finite
    assert broken.first_out_of_range.quantity == "state"
    assert broken.first_out_of_range.kind == "overflow"
    assert abs(broken.first_out_of_range.step - k_over) <= 0.05 * k_over + 2
    exact = l2lcore.meta_gradient(task, eta, int(1.2 * k_over), "log")
    assert mpmath.isfinite(exact) and abs(exact) < 10 * task.theorem4_scale()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_objective_breaks_when_the_loss_underflows(task, dtype):
    """eta < 2/L: F ~ rho^(2t) underflows near 2t = log(tiny)/log(rho), then 1/F = inf."""
    eta = 0.5 / task.L
    t_under = math.log10(np.finfo(dtype).tiny) / (2 * math.log10(rho(task, eta)))
    assert l2lcore.meta_gradient(task, eta, int(0.5 * t_under), "log", "backprop", dtype=dtype, trace=True).finite
    broken = l2lcore.meta_gradient(task, eta, int(1.5 * t_under), "log", "backprop", dtype=dtype, trace=True)
    assert not (broken.finite and broken.value != 0)
    assert broken.first_out_of_range is not None and broken.first_out_of_range.kind == "underflow"


def test_trace_magnitudes_follow_the_exact_ones(task):
    eta, t = 0.8 / task.L, 50
    trace = l2lcore.meta_gradient(task, eta, t, "log", "backprop", trace=True)
    ks = list(range(t + 1))
    ex = l2lcore.quadratic.exact.log10_intermediates(task, eta, t, ks)
    np.testing.assert_allclose(trace.state, [float(x) for x in ex["state"]], atol=1e-9)
    np.testing.assert_allclose(trace.adjoint, [float(x) for x in ex["adjoint"]], atol=1e-9)
    np.testing.assert_allclose(trace.running_gradient, [float(x) for x in ex["running_gradient"][:-1]], atol=1e-9)
    assert abs(trace.loss - float(ex["loss"])) < 1e-9
    assert abs(trace.inv_loss - float(ex["inv_loss"])) < 1e-9


def test_lower_precisions_are_supported(task):
    for dtype in (np.float16, np.longdouble):
        value = l2lcore.meta_gradient(task, 0.5 / task.L, 5, "log", "backprop", dtype=dtype)
        assert value.dtype == dtype


def test_float_meta_objective_is_exact_in_range_and_reports_overflow(task):
    for objective in ("naive", "log"):
        eta = 0.5 / task.L
        got = l2lcore.meta_objective(task, eta, 50, objective, "float")
        assert isinstance(got, np.float64)
        assert abs(got - float(l2lcore.meta_objective(task, eta, 50, objective))) <= 1e-12 * abs(got)
    assert l2lcore.meta_objective(task, 3 / task.L, 540, "naive", "float") == np.inf  # w_t ~ 2^540 is finite, f is not
    assert np.isnan(l2lcore.meta_objective(task, 3 / task.L, 2000, "naive", "float"))  # w_t itself: inf - inf
    assert l2lcore.meta_objective(task, 3 / task.L, 2000, "naive", "float", dtype=np.float32).dtype == np.float32
    assert l2lcore.meta_objective(task, 0.5 / task.L, 10**5, "log", "float") == -np.inf


def test_long_double_trace_measures_beyond_float64_range(task):
    """Long double reaches ~1e4932: the trace must not clip its magnitudes to float64's range."""
    eta, t = 3.0 / task.L, 1500
    trace = l2lcore.meta_gradient(task, eta, t, "log", "backprop", dtype=np.longdouble, trace=True)
    want = l2lcore.quadratic.exact.log10_intermediates(task, eta, t, [t])["state"][0]
    if np.finfo(np.longdouble).maxexp <= 1024:
        pytest.skip("long double is float64 on this platform")
    assert trace.first_out_of_range is None and float(want) > 308
    assert abs(trace.state[t] - float(want)) < 1e-9
