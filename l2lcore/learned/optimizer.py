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
back-propagation through the unroll and hands it to optax (global-norm clipping, then Adam).
JAX is imported lazily, so ``import l2lcore`` works without it; everything runs in float32, on
the CPU unless JAX has an accelerator. On first use JAX is given one CPU device per core (at
most :data:`MAX_CPU_DEVICES`), so meta-training can spread its tasks over the cores.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np

from .digits import N_CLASSES


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


#: CPU devices JAX is given on first use (one per core up to this): meta-training shards its
#: tasks over them, which is what lets it use both cores of a small machine.
MAX_CPU_DEVICES = 8


@functools.cache
def _configure(jax):
    """One CPU device per available core, when JAX has not started yet (otherwise it keeps the
    devices it has: the results are the same to float32 rounding, only slower)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        jax.config.update("jax_num_cpu_devices", max(1, min(cores, MAX_CPU_DEVICES)))
    except (RuntimeError, AttributeError):  # JAX already started, or too old for the option
        pass


def _jax():
    import jax
    import jax.numpy as jnp

    _configure(jax)
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

    def segments(self) -> np.ndarray:
        """S (n_params x tensors), S[i, j] = 1 when weight i belongs to tensor j: per-tensor
        sums of a flat vector are S^T a, and S r spreads per-tensor values back over the weights
        (two small matrix products, cheaper to differentiate twice than slices of the vector)."""
        ids = np.concatenate([np.full(math.prod(s), j) for j, s in enumerate(self.shapes)])
        out = np.zeros((ids.size, len(self.shapes)), np.float32)
        out[np.arange(ids.size), ids] = 1.0
        return out


def _init_net(net: Network, key):
    """He-normal weights, zero biases, as one flat float32 vector."""
    jax, jnp = _jax()
    parts = []
    for k, s in zip(jax.random.split(key, len(net.shapes)), net.shapes):
        parts.append((jax.random.normal(k, s, jnp.float32) * math.sqrt(2.0 / s[0])).ravel() if len(s) == 2
                     else jnp.zeros(s, jnp.float32))
    return jnp.concatenate(parts)


def _logits(net: Network, w, x):
    """The network's output on the rows of x: ReLU hidden layers, a linear last layer."""
    jax, _ = _jax()
    p = net.unflatten(w)
    h = x
    for i in range(0, len(p) - 2, 2):
        h = jax.nn.relu(h @ p[i] + p[i + 1])
    return h @ p[-2] + p[-1]


def _loss_acc(net: Network, w, x, y, mask):
    """Masked mean cross entropy and accuracy (rows with mask 0 are padding)."""
    jax, jnp = _jax()
    z = _logits(net, w, x)
    nll = jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, y[:, None], axis=-1)[:, 0]
    n = jnp.sum(mask)
    return jnp.sum(nll * mask) / n, jnp.sum((jnp.argmax(z, -1) == y) * mask) / n


def _loss(net: Network, w, x, y1h):
    """Mean cross entropy of the rows (x, y) with labels one-hot (a product, not a gather:
    cheaper to differentiate twice)."""
    jax, jnp = _jax()
    z = _logits(net, w, x)
    return jnp.mean(jax.nn.logsumexp(z, axis=-1) - jnp.sum(z * y1h, axis=-1))


def _sample(data, part, key, size):
    """``size`` rows of the ``part`` set ("train" or "target") drawn with replacement by ``key``
    from its first n rows, labels one-hot."""
    jax, jnp = _jax()
    i = jax.random.randint(key, (size,), 0, data[f"n_{part}"])
    return data[f"x_{part}"][i], jax.nn.one_hot(data[f"y_{part}"][i], N_CLASSES, dtype=jnp.float32)


def _draw(b, data, key):
    """One meta-training step's minibatches: ``b.batch`` training rows (the inner step) and
    ``b.target_batch`` target rows (its term of the meta-loss), from the two halves of ``key``."""
    jax, _ = _jax()
    k_train, k_target = jax.random.split(key)
    return (*_sample(data, "train", k_train, b.batch), *_sample(data, "target", k_target, b.target_batch))


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


def _inner_step(spec, b, net, theta, state, x, y1h, step_mult):
    """One step of the learned optimizer on the training minibatch (x, y1h), all weights at once."""
    jax, jnp = _jax()
    g = jax.grad(_loss, argnums=1)(net, state["w"], x, y1h)
    w, k = state["w"], state["k"]
    decays = jnp.asarray(spec.decays, jnp.float32)[:, None]
    m = decays * state["m"] + (1 - decays) * g
    v = spec.beta2 * state["v"] + (1 - spec.beta2) * g * g
    t = (k + 1).astype(jnp.float32)
    m_hat = m / (1 - decays ** t)
    v_hat = v / (1 - spec.beta2 ** t)
    rs = 1.0 / jnp.sqrt(v_hat + spec.eps)
    seg = jnp.asarray(net.segments())
    a = jnp.stack([g, *m_hat, w])  # each row normalised by its rms over each tensor
    exact = jax.lax.Precision.HIGHEST  # sums, not TF32 products, on an accelerator
    rms = jnp.sqrt(jnp.matmul(a * a, seg, precision=exact) / jnp.sum(seg, axis=0) + spec.eps)
    # The features of every weight are a column (features x weights), so the MLP's first layer
    # is one wide matrix product and its two outputs are weighted sums over the hidden units: as
    # rows of weights times a 16 x 2 matrix, their backward pass is several times slower on a CPU.
    f = jnp.concatenate([(g * rs)[None], m_hat * rs, a / jnp.matmul(rms, seg.T, precision=exact),
                         jnp.full((1, w.size), k / b.steps, jnp.float32)])
    h = jnp.maximum(theta["w1"].T @ f + theta["b1"][:, None], 0.0)
    d, s = jnp.stack([jnp.sum(h * theta["w2"][:, j, None], axis=0) for j in range(2)]) + theta["b2"][:, None]
    step = step_mult * spec.base_step * jnp.exp(spec.mag_scale * s)
    w = w - step * (g + spec.dir_scale * d * jnp.sqrt(v_hat + spec.eps))
    return {"w": w, "m": m, "v": v, "k": k + 1}


def _unroll_logs(spec, b, net, theta, state, batches, step_mult):
    """Inner steps on ``batches`` (from :func:`_draw`, one per step): the final state and
    log l(w_k; target minibatch k) after each step k. The step is rematerialised in the backward
    pass (jax.checkpoint): recomputing it is cheaper than storing every step's intermediates."""
    jax, jnp = _jax()

    @functools.partial(jax.checkpoint, prevent_cse=False)
    def body(st, batch):
        x, y, xt, yt = batch
        st = _inner_step(spec, b, net, theta, st, x, y, step_mult)
        return st, jnp.log(_loss(net, st["w"], xt, yt))

    return jax.lax.scan(body, state, batches)
