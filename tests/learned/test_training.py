"""Meta-training (l2lcore.learned.training) against the straightforward implementation
(l2lcore.learned.reference): the fast meta-step is the same mathematics, so a few meta-steps from
the same start, with the same keys, give the same meta-losses, meta-gradient norms and
meta-parameters to float32 rounding."""
import numpy as np
import pytest

from l2lcore.learned import digits, reference
from l2lcore.learned.optimizer import Network, OptimizerSpec, init_optimizer
from l2lcore.learned.training import _compiled, _data, _keys, budget, meta_optimizer, task_devices

jax = pytest.importorskip("jax")
jnp = jax.numpy
pytest.importorskip("sklearn")

# Two tasks, so meta-training splits them over two devices where JAX has two.
SMALL = budget("book", steps=40, unroll=5, meta_iters=4, tasks=2, hidden_layers=(16,))
SPEC = OptimizerSpec()
NET = Network((64, 16, 10))


@pytest.fixture(scope="module")
def data():
    c = digits.load("digits", seed=0)
    sp = digits.split(c, 200, 200, 0.2, 0)
    return _data(sp.x_train, sp.y_train, sp.x_valid, sp.y_valid, sp.x_test, sp.y_test, c.n_pool)


def _trained_theta():
    """A theta whose output layer is not zero, so the learned part of the update matters."""
    theta = init_optimizer(SPEC, 3)
    rng = np.random.default_rng(4)
    theta["w2"] = rng.normal(0, 0.3, theta["w2"].shape).astype(np.float32)
    theta["b2"] = np.float32([0.1, -0.2])
    return {k: jnp.asarray(v) for k, v in theta.items()}


def test_fast_meta_steps_match_the_straightforward_ones(data):
    fn, ref = _compiled(SPEC, SMALL, NET), reference.meta_step(SPEC, SMALL, NET)
    theta = _trained_theta()
    states = fn["fresh"](_keys(1, SMALL.tasks))
    keys = _keys(2, 6)
    a_theta, adam, a_states = theta, reference.init_adam(theta), states
    b_theta, opt_state, b_states = fn["place"](theta, fn["opt"].init(theta), states)
    for i in range(len(keys)):  # 6 meta-steps of 5 inner steps: the tasks pass their horizon and restart
        a_theta, adam, a_states, a_loss, a_norm = ref(a_theta, adam, a_states, data, keys[i], jnp.asarray(i, jnp.int32))
        b_theta, opt_state, b_states, b_loss, b_norm = fn["meta_step"](b_theta, opt_state, b_states, data, keys[i])
        np.testing.assert_allclose(float(b_loss), float(a_loss), rtol=1e-5)
        np.testing.assert_allclose(float(b_norm), float(a_norm), rtol=1e-4)
        for k in a_theta:
            np.testing.assert_allclose(np.asarray(b_theta[k]), np.asarray(a_theta[k]), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(b_states["w"]), np.asarray(a_states["w"]), rtol=1e-3, atol=1e-5)
    assert np.array_equal(np.asarray(b_states["k"]), np.asarray(a_states["k"]))
    assert fn["meta_step"]._cache_size() == 1  # laid out by place, the first call compiled the only program


def test_a_non_finite_meta_step_is_skipped_and_its_tasks_restart(data):
    """theta and the optimizer's moments stay as they were; every task starts afresh."""
    fn = _compiled(SPEC, SMALL, NET)
    theta = _trained_theta()
    theta["w2"] = theta["w2"].at[0, 1].set(jnp.nan)  # every update, hence the meta-loss, is nan
    placed = fn["place"](theta, fn["opt"].init(theta), fn["fresh"](_keys(1, SMALL.tasks)))
    new_theta, opt_state, states, loss, norm = fn["meta_step"](*placed, data, _keys(2, 1)[0])
    assert not np.isfinite(float(loss))
    for k in theta:
        np.testing.assert_array_equal(np.asarray(new_theta[k]), np.asarray(theta[k]))
    assert int(opt_state.total_notfinite) == 1
    assert np.all(np.asarray(states["k"]) == 0)


def test_meta_optimizer_clips_then_adam_and_skips_non_finite_gradients():
    b = budget("book", clip=1.0, meta_lr=0.1)
    opt = meta_optimizer(b)
    theta = {"w": jnp.zeros(2)}
    state = opt.init(theta)
    # Adam's first step moves every coordinate by the step size whatever the (clipped) gradient.
    step, state = opt.update({"w": jnp.array([30.0, -40.0])}, state, theta)
    np.testing.assert_allclose(np.asarray(step["w"]), [-0.1, 0.1], rtol=1e-5)
    skipped, after = opt.update({"w": jnp.array([jnp.nan, 1.0])}, state, theta)
    assert np.all(np.asarray(skipped["w"]) == 0.0)
    for x, y in zip(jax.tree_util.tree_leaves(after.inner_state), jax.tree_util.tree_leaves(state.inner_state)):
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_tasks_are_split_over_as_many_devices_as_divide_them():
    import os

    n = len(jax.devices())
    if len(os.sched_getaffinity(0)) >= 2:  # tests/conftest.py gives JAX one device per core
        assert len(task_devices(2)) == 2
    for tasks in (1, 2, 3, 4, 6):
        used = len(task_devices(tasks))
        assert tasks % used == 0 and used <= n
        assert all(tasks % k or k > n for k in range(used + 1, tasks + 1))
