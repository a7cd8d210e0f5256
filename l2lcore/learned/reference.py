"""The straightforward meta-training step: the oracle that :mod:`.training` is tested and
benchmarked against.

This is the implementation the chapter used before meta-training was made fast: each inner
step draws its minibatch inside the differentiated loop, the loss picks the label's logit with
a gather, the per-tensor rms features are static slices of the flat weight vector, the
backward pass stores every step's intermediates, all tasks run on one device, and Adam with
global-norm clipping is written out by hand. Same mathematics as :func:`.training._compiled`'s
``meta_step`` (same meta-loss, the same minibatches from the same keys, the same update), so
the two agree to float32 rounding, with one deliberate difference: here a non-finite
meta-gradient is zeroed and Adam still steps (its moments decay and theta moves by them), while
the fast step skips it altogether (``optax.apply_if_finite``), which is what "skipped" means; ``tests/learned/test_training.py`` checks that, and
``benchmarks/learned.py`` times both side by side.
"""
from __future__ import annotations

import functools

from .optimizer import Network, OptimizerSpec, _init_state, _jax, _loss_acc


def _batch_loss(net, w, x, y, n, key, size):
    """Cross entropy on ``size`` samples drawn with replacement from the first n rows."""
    jax, jnp = _jax()
    idx = jax.random.randint(key, (size,), 0, n)
    return _loss_acc(net, w, x[idx], y[idx], jnp.ones(size, jnp.float32))[0]


def _inner_step(spec, b, net, theta, state, data, key, step_mult):
    """One step of the learned optimizer on a training minibatch (all weights at once)."""
    jax, jnp = _jax()
    g = jax.grad(_batch_loss, argnums=1)(net, state["w"], data["x_train"], data["y_train"],
                                         data["n_train"], key, b.batch)
    w, k = state["w"], state["k"]
    decays = jnp.asarray(spec.decays, jnp.float32)[:, None]
    m = decays * state["m"] + (1 - decays) * g
    v = spec.beta2 * state["v"] + (1 - spec.beta2) * g * g
    t = (k + 1).astype(jnp.float32)
    m_hat = m / (1 - decays ** t)
    v_hat = v / (1 - spec.beta2 ** t)
    rs = 1.0 / jnp.sqrt(v_hat + spec.eps)

    def tensor_rms_normalised(a):
        return jnp.concatenate([x / jnp.sqrt(jnp.mean(x * x) + spec.eps) for x in net.split(a)])

    f = jnp.stack([g * rs, *(m_hat * rs), tensor_rms_normalised(g),
                   *(tensor_rms_normalised(mi) for mi in m_hat), tensor_rms_normalised(w),
                   jnp.full(w.shape, k / b.steps, jnp.float32)], axis=-1)
    h = jnp.maximum(f @ theta["w1"] + theta["b1"], 0.0)
    out = h @ theta["w2"] + theta["b2"]
    step = step_mult * spec.base_step * jnp.exp(spec.mag_scale * out[:, 1])
    w = w - step * (g + spec.dir_scale * out[:, 0] * jnp.sqrt(v_hat + spec.eps))
    return {"w": w, "m": m, "v": v, "k": k + 1}


def _unroll_loss(spec, b, net, theta, state, data, key):
    """(1/U) sum_k log l(w_k; target minibatch k) over U = b.unroll inner steps, and the final state."""
    jax, jnp = _jax()

    def body(st, k):
        k_train, k_target = jax.random.split(k)
        st = _inner_step(spec, b, net, theta, st, data, k_train, 1.0)
        loss = _batch_loss(net, st["w"], data["x_target"], data["y_target"], data["n_target"],
                           k_target, b.target_batch)
        return st, jnp.log(loss)

    state, logs = jax.lax.scan(body, state, jax.random.split(key, b.unroll))
    return jnp.mean(logs), state


def _adam(theta, adam, grad, it, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma and Ba): bias-corrected first and second moments of the meta-gradient."""
    jax, jnp = _jax()
    t = (it + 1).astype(jnp.float32)
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, adam["m"], grad)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, adam["v"], grad)
    theta = jax.tree_util.tree_map(
        lambda p, m, v: p - lr * (m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps), theta, m, v)
    return theta, {"m": m, "v": v}


def init_adam(theta):
    """Adam's moments at zero."""
    _, jnp = _jax()
    zeros = {k: jnp.zeros_like(jnp.asarray(v)) for k, v in theta.items()}
    return {"m": zeros, "v": dict(zeros)}


@functools.cache
def meta_step(spec: OptimizerSpec, b, net: Network):
    """The jitted reference step ``(theta, adam, states, data, key, it) -> (theta, adam, states,
    loss, norm)``: one meta-gradient over ``b.tasks`` unrolls, clipped to ``b.clip`` in global
    norm (a non-finite one zeroed), one Adam step, and finished or diverged tasks restarted."""
    jax, jnp = _jax()

    def meta_loss(theta, states, data, keys):
        losses, new = jax.vmap(lambda s, k: _unroll_loss(spec, b, net, theta, s, data, k))(states, keys)
        return jnp.mean(losses), new

    def step(theta, adam, states, data, key, it):
        k_unroll, k_reset = jax.random.split(key)
        keys = jax.random.split(k_unroll, b.tasks)
        (loss, new), grad = jax.value_and_grad(meta_loss, has_aux=True)(theta, states, data, keys)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grad)))
        ok = jnp.isfinite(norm) & jnp.isfinite(loss)
        scale = jnp.where(ok, jnp.minimum(1.0, b.clip / (norm + 1e-12)), 0.0)
        grad = jax.tree_util.tree_map(lambda g: jnp.where(ok, g, 0.0) * scale, grad)
        theta, adam = _adam(theta, adam, grad, it, b.meta_lr)
        fresh = jax.vmap(lambda k: _init_state(spec, net, k))(jax.random.split(k_reset, b.tasks))
        bad = ~jnp.all(jnp.isfinite(new["w"]), axis=1)
        done = (new["k"] >= b.steps) | bad | ~ok
        states = jax.tree_util.tree_map(
            lambda f, s: jnp.where(done.reshape((-1,) + (1,) * (s.ndim - 1)), f, s), fresh, new)
        return theta, adam, states, loss, norm

    return jax.jit(step)
