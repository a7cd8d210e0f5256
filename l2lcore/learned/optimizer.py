"""The learned optimizer and its inner problem (paper Section 5, Figures 5-7).

The inner problem is a fully connected classifier (hidden ReLU layers of 100 and 20 units,
10-way cross entropy, minibatches of 32) trained from a fresh random initialisation. The inner
optimizer is a small MLP applied to every weight separately, in the style of Metz et al. (2019).
For a weight w with minibatch gradient g at inner step k of a horizon of T steps it keeps

    m_b = b m_b + (1 - b) g            for b in ``spec.decays``  (momenta, bias corrected)
    v   = b2 v + (1 - b2) g^2          (second moment, bias corrected: v_hat)

reads the features

    g / sqrt(v_hat), m_b / sqrt(v_hat),           (Adam-like, per weight)
    g / rms(g), m_b / rms(m_b), w / rms(w),        (rms over the weight's tensor)
    k / T                                          (training progress)

and outputs a direction d and a log step magnitude s, which give the update

    w <- w - eta0 * exp(lambda_s * s) * (g + lambda_d * d * sqrt(v_hat)).

The output layer starts at zero, so the untrained optimizer *is* SGD with step eta0.

Meta-training minimises the mean log loss over truncated unrolls of U inner steps,

    meta-loss(theta) = (1/U) sum_{k=1..U} log l(w_k; B_k),

with B_k a fresh minibatch of the training set (train-by-train, TbT) or of a held-out
validation set (train-by-validation, TbV): :mod:`l2lcore.learned.training` computes it by
back-propagation through the unroll, clips it in global norm and feeds it to Adam (:func:`_adam`,
here). JAX is imported lazily, so ``import l2lcore`` works without it; everything runs in
float32 on the CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OptimizerSpec:
    """Shape of the learned optimizer: feature decays, hidden width, output scales, base step."""

    hidden: int = 16
    decays: tuple = (0.5, 0.9, 0.99)
    beta2: float = 0.999
    base_step: float = 0.05  # eta0: the untrained optimizer is SGD with this step
    dir_scale: float = 0.1  # lambda_d
    mag_scale: float = 0.1  # lambda_s
    eps: float = 1e-8

    @property
    def n_features(self) -> int:
        return 2 * (1 + len(self.decays)) + 2


def _jax():
    import jax
    import jax.numpy as jnp

    return jax, jnp


# ---------------------------------------------------------------------------------------------
# The inner problem. Its weights live in one flat vector, so the learned optimizer is one
# matrix product per step over all weights, whatever the number of layers.


@dataclass(frozen=True)
class Network:
    """Layer widths (input, hidden..., 10) and where each weight tensor sits in the flat vector."""

    sizes: tuple

    @property
    def shapes(self) -> tuple:
        out = []
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            out += [(a, b), (b,)]
        return tuple(out)

    @property
    def n_params(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    def split(self, w):
        """The flat vector cut into one 1-D piece per tensor."""
        out, o = [], 0
        for s in self.shapes:
            n = math.prod(s)
            out.append(w[o:o + n])
            o += n
        return out

    def unflatten(self, w):
        return [piece.reshape(s) for piece, s in zip(self.split(w), self.shapes)]


def _init_net(net: Network, key):
    """He-normal weights, zero biases, as one flat float32 vector."""
    jax, jnp = _jax()
    parts = []
    for k, s in zip(jax.random.split(key, len(net.shapes)), net.shapes):
        parts.append((jax.random.normal(k, s, jnp.float32) * math.sqrt(2.0 / s[0])).ravel() if len(s) == 2
                     else jnp.zeros(s, jnp.float32))
    return jnp.concatenate(parts)


def _loss_acc(net: Network, w, x, y, mask):
    """Masked mean cross entropy and accuracy (rows with mask 0 are padding)."""
    jax, jnp = _jax()
    p = net.unflatten(w)
    h = x
    for i in range(0, len(p) - 2, 2):
        h = jax.nn.relu(h @ p[i] + p[i + 1])
    z = h @ p[-2] + p[-1]
    nll = jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, y[:, None], axis=-1)[:, 0]
    n = jnp.sum(mask)
    return jnp.sum(nll * mask) / n, jnp.sum((jnp.argmax(z, -1) == y) * mask) / n


def _batch_loss(net, w, x, y, n, key, size):
    """Cross entropy on ``size`` samples drawn with replacement from the first n rows."""
    jax, jnp = _jax()
    idx = jax.random.randint(key, (size,), 0, n)
    return _loss_acc(net, w, x[idx], y[idx], jnp.ones(size, jnp.float32))[0]


# ---------------------------------------------------------------------------------------------
# The learned optimizer


def init_optimizer(spec: OptimizerSpec, seed: int):
    """Meta-parameters theta: a one-hidden-layer MLP, output layer at zero (= SGD with eta0)."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, 1.0 / math.sqrt(spec.n_features), (spec.n_features, spec.hidden))
    return {"w1": w1.astype(np.float32), "b1": np.zeros(spec.hidden, np.float32),
            "w2": np.zeros((spec.hidden, 2), np.float32), "b2": np.zeros(2, np.float32)}


def _init_state(spec, net, key):
    _, jnp = _jax()
    w = _init_net(net, key)
    return {"w": w, "m": jnp.zeros((len(spec.decays), w.size), jnp.float32),
            "v": jnp.zeros_like(w), "k": jnp.zeros((), jnp.int32)}


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
        # static slices, not segment_sum: scatters are slow on the CPU and in second-order grads
        return jnp.concatenate([x / jnp.sqrt(jnp.mean(x * x) + spec.eps) for x in net.split(a)])

    f = jnp.stack([g * rs, *(m_hat * rs), tensor_rms_normalised(g),
                   *(tensor_rms_normalised(mi) for mi in m_hat), tensor_rms_normalised(w),
                   jnp.full(w.shape, k / b.steps, jnp.float32)], axis=-1)
    h = jnp.maximum(f @ theta["w1"] + theta["b1"], 0.0)
    out = h @ theta["w2"] + theta["b2"]
    step = step_mult * spec.base_step * jnp.exp(spec.mag_scale * out[:, 1])
    w = w - step * (g + spec.dir_scale * out[:, 0] * jnp.sqrt(v_hat + spec.eps))
    return {"w": w, "m": m, "v": v, "k": k + 1}


def _unroll_loss(spec, b, net, unroll, theta, state, data, key, step_mult):
    """(1/U) sum_k log l(w_k; target minibatch k) over U inner steps, and the final state."""
    jax, jnp = _jax()

    def body(st, k):
        k_train, k_target = jax.random.split(k)
        st = _inner_step(spec, b, net, theta, st, data, k_train, step_mult)
        loss = _batch_loss(net, st["w"], data["x_target"], data["y_target"], data["n_target"],
                           k_target, b.target_batch)
        return st, jnp.log(loss)

    state, logs = jax.lax.scan(body, state, jax.random.split(key, unroll))
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

