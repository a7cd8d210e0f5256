"""A neural learned optimizer, meta-trained train-by-train or train-by-validation (Figures 5-7).

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
validation set (train-by-validation, TbV); the meta-gradient is computed by back-propagation
through the unroll, clipped in global norm, and fed to Adam. JAX is imported lazily, so
``import l2lcore`` works without it; everything runs in float32 on the CPU.
"""
from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass, replace

import numpy as np

from .. import _checks
from . import digits

SCALES = ("book", "paper")


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


@dataclass(frozen=True)
class Budget:
    """How much work one comparison does (``scale`` presets in :func:`budget`)."""

    steps: int  # inner steps, in evaluation and as the meta-training horizon T
    unroll: int  # U, inner steps per truncated unroll
    meta_iters: int  # meta-gradient steps per learned optimizer
    tasks: int  # inner problems per meta-gradient (averaged)
    record_every: int  # evaluation records accuracy every this many steps
    meta_lr: float = 1e-2
    clip: float = 1.0  # global-norm clip of the meta-gradient
    batch: int = 32
    target_batch: int = 64  # samples scoring each step of the meta-loss
    hidden_layers: tuple = (100, 20)
    sgd_grid: tuple = tuple(float(x) for x in np.logspace(-2.5, 0, 7))


def budget(scale: str = "book", **overrides) -> Budget:
    """The book's reduced budget or the paper's (4000 inner steps); keywords override fields."""
    if scale == "book":
        b = Budget(steps=400, unroll=20, meta_iters=60, tasks=2, record_every=20, meta_lr=1e-2)
    elif scale == "paper":
        b = Budget(steps=4000, unroll=50, meta_iters=2000, tasks=4, record_every=100, meta_lr=3e-3)
    else:
        raise ValueError(f"unknown scale {scale!r}; choose one of {SCALES}")
    if "hidden_layers" in overrides:  # lists would not hash (the compiled functions are cached by budget)
        overrides["hidden_layers"] = tuple(overrides["hidden_layers"])
    if "sgd_grid" in overrides:
        overrides["sgd_grid"] = tuple(float(x) for x in overrides["sgd_grid"])
    b = replace(b, **overrides)
    for name in ("steps", "unroll", "meta_iters", "tasks", "record_every", "batch", "target_batch"):
        v = getattr(b, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"budget.{name} must be a positive integer, got {v!r}")
    if b.steps % b.record_every or b.steps % b.unroll:
        raise ValueError(f"budget.steps={b.steps} must be a multiple of unroll and record_every")
    if not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in b.hidden_layers):
        raise ValueError(f"budget.hidden_layers must be positive integers, got {b.hidden_layers!r}")
    for name in ("meta_lr", "clip"):
        if not (math.isfinite(getattr(b, name)) and getattr(b, name) > 0):
            raise ValueError(f"budget.{name} must be positive and finite, got {getattr(b, name)!r}")
    if not b.sgd_grid or not all(math.isfinite(x) and x > 0 for x in b.sgd_grid):
        raise ValueError(f"budget.sgd_grid must be positive finite step sizes, got {b.sgd_grid!r}")
    return b


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


@functools.cache
def _compiled(spec: OptimizerSpec, b: Budget, net: Network):
    """The jitted functions for one (spec, budget, network): compiled once per shape of the data."""
    jax, jnp = _jax()

    def fresh(key):
        return _init_state(spec, net, key)

    def advance(theta, state, data, key, n_steps):
        """n_steps inner steps, no gradient (staggers the meta-training tasks)."""
        def body(i, st):
            return _inner_step(spec, b, net, theta, st, data, jax.random.fold_in(key, i), 1.0)
        return jax.lax.fori_loop(0, n_steps, body, state)

    def meta_loss(theta, states, data, keys):
        losses, new = jax.vmap(lambda s, k: _unroll_loss(spec, b, net, b.unroll, theta, s, data, k, 1.0))(states, keys)
        return jnp.mean(losses), new

    def meta_step(theta, adam, states, data, key, it):
        k_unroll, k_reset = jax.random.split(key)
        keys = jax.random.split(k_unroll, b.tasks)
        (loss, new), grad = jax.value_and_grad(meta_loss, has_aux=True)(theta, states, data, keys)
        leaves = jax.tree_util.tree_leaves(grad)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in leaves))
        ok = jnp.isfinite(norm) & jnp.isfinite(loss)
        # Clipping keeps one exploding unroll from wrecking theta; a non-finite one is skipped.
        scale = jnp.where(ok, jnp.minimum(1.0, b.clip / (norm + 1e-12)), 0.0)
        grad = jax.tree_util.tree_map(lambda g: jnp.where(ok, g, 0.0) * scale, grad)
        theta, adam = _adam(theta, adam, grad, it, b.meta_lr)
        # A task that finished its horizon, or diverged, restarts from a fresh initialisation.
        fresh_states = jax.vmap(fresh)(jax.random.split(k_reset, b.tasks))
        bad = ~jnp.all(jnp.isfinite(new["w"]), axis=1)
        done = (new["k"] >= b.steps) | bad | ~ok
        states = jax.tree_util.tree_map(
            lambda f, s: jnp.where(done.reshape((-1,) + (1,) * (s.ndim - 1)), f, s), fresh_states, new)
        return theta, adam, states, loss, norm

    def evaluate(theta, data, key, step_mult):
        """Train a fresh network for b.steps steps; record train/eval loss and accuracy."""
        k_init, k_run = jax.random.split(key)

        def chunk(st, i):
            def body(j, s):
                return _inner_step(spec, b, net, theta, s, data,
                                   jax.random.fold_in(k_run, i * b.record_every + j), step_mult)
            st = jax.lax.fori_loop(0, b.record_every, body, st)
            tr = _loss_acc(net, st["w"], data["x_train"], data["y_train"], data["mask_train"])
            ev = _loss_acc(net, st["w"], data["x_eval"], data["y_eval"], data["mask_eval"])
            return st, jnp.stack([tr[0], tr[1], ev[0], ev[1]])

        _, rec = jax.lax.scan(chunk, fresh(k_init), jnp.arange(b.steps // b.record_every))
        return rec

    def grad_norm(theta, data, key, step_mult, weights):
        """||grad_theta sum_k weights_k log l(w_k)||: with weights 1/U on the first U steps and 0
        after, the meta-gradient of an unroll of length U (one compilation for every U)."""
        def f(th):
            start = fresh(jax.random.fold_in(key, 1))

            def body(st, kw):
                k, wk = kw
                k_train, k_target = jax.random.split(k)
                st = _inner_step(spec, b, net, th, st, data, k_train, step_mult)
                loss = _batch_loss(net, st["w"], data["x_target"], data["y_target"], data["n_target"],
                                   k_target, b.target_batch)
                return st, wk * jnp.log(loss)

            return jnp.sum(jax.lax.scan(body, start, (jax.random.split(key, weights.size), weights))[1])

        g = jax.grad(f)(theta)
        return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(g)))

    return {"fresh": jax.jit(jax.vmap(fresh)),
            "advance": jax.jit(jax.vmap(advance, in_axes=(None, 0, None, 0, 0))),
            "meta_step": jax.jit(meta_step),
            "evaluate": jax.jit(jax.vmap(evaluate, in_axes=(None, None, 0, 0))),
            "grad_norm": jax.jit(jax.vmap(grad_norm, in_axes=(None, None, 0, None, None)))}


def _adam(theta, adam, grad, it, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma and Ba): bias-corrected first and second moments of the meta-gradient."""
    jax, jnp = _jax()
    t = (it + 1).astype(jnp.float32)
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, adam["m"], grad)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, adam["v"], grad)
    theta = jax.tree_util.tree_map(
        lambda p, m, v: p - lr * (m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps), theta, m, v)
    return theta, {"m": m, "v": v}


# ---------------------------------------------------------------------------------------------
# Data, meta-training, evaluation


def _pad(x, y, size):
    """Rows of (x, y) zero-padded to ``size`` and a 0/1 mask, so every set has one shape."""
    if len(y) > size:
        raise ValueError(f"cannot pad {len(y)} samples to {size} rows; pass size >= every set's length")
    xp = np.zeros((size, x.shape[1]), np.float32)
    yp = np.zeros(size, np.int32)
    xp[: len(y)], yp[: len(y)] = x, y
    mask = np.zeros(size, np.float32)
    mask[: len(y)] = 1.0
    return xp, yp, mask


def _data(x_train, y_train, x_target, y_target, x_eval, y_eval, size):
    """The arrays one jitted call reads, all padded to ``size`` rows (one compilation for all)."""
    _, jnp = _jax()
    xt, yt, mt = _pad(x_train, y_train, size)
    xg, yg, _ = _pad(x_target, y_target, size)
    xe, ye, me = _pad(x_eval, y_eval, size)
    return {"x_train": jnp.asarray(xt), "y_train": jnp.asarray(yt), "mask_train": jnp.asarray(mt),
            "n_train": jnp.asarray(len(y_train), jnp.int32),
            "x_target": jnp.asarray(xg), "y_target": jnp.asarray(yg),
            "n_target": jnp.asarray(len(y_target), jnp.int32),
            "x_eval": jnp.asarray(xe), "y_eval": jnp.asarray(ye), "mask_eval": jnp.asarray(me)}


def _keys(seed: int, count: int):
    """``count`` independent JAX keys derived from one seed."""
    _, jnp = _jax()
    words = [s.generate_state(2) for s in np.random.SeedSequence(seed).spawn(count)]
    return jnp.asarray(np.stack(words).astype(np.uint32))


def meta_train(data, spec: OptimizerSpec, b: Budget, net: Network, seed: int, progress: bool | None = None):
    """Meta-train a learned optimizer on ``data`` (its target set decides TbT or TbV).

    Returns ``(theta, history)`` with ``history = {"loss": (meta_iters,), "grad_norm": (meta_iters,)}``:
    the meta-loss and the meta-gradient's norm before clipping at every meta-step.
    ``progress``: show a tqdm bar; None shows it when stderr is a terminal (not in notebooks or tests).
    """
    from tqdm import tqdm

    _, jnp = _jax()
    fn = _compiled(spec, b, net)
    k_theta, k_tasks, k_stagger, k_steps = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(4))
    theta = {k: jnp.asarray(v) for k, v in init_optimizer(spec, k_theta).items()}
    adam = {"m": {k: jnp.zeros_like(v) for k, v in theta.items()},
            "v": {k: jnp.zeros_like(v) for k, v in theta.items()}}
    states = fn["fresh"](_keys(k_tasks, b.tasks))
    # Tasks start spread over the horizon (multiples of U), so each meta-gradient mixes
    # early and late training instead of sweeping the horizon in lockstep.
    offsets = (np.arange(b.tasks) * (b.steps // b.unroll) // b.tasks) * b.unroll
    states = fn["advance"](theta, states, data, _keys(k_stagger, b.tasks), jnp.asarray(offsets, jnp.int32))
    keys = _keys(k_steps, b.meta_iters)
    losses, norms = np.empty(b.meta_iters), np.empty(b.meta_iters)
    show = sys.stderr.isatty() if progress is None else progress
    for it in tqdm(range(b.meta_iters), disable=not show, desc="meta-training", leave=False):
        theta, adam, states, loss, norm = fn["meta_step"](theta, adam, states, data, keys[it],
                                                          jnp.asarray(it, jnp.int32))
        losses[it], norms[it] = float(loss), float(norm)
    return {k: np.asarray(v) for k, v in theta.items()}, {"loss": losses, "grad_norm": norms}


def _evaluate_steps(theta, data, spec, b, net, seed, step_mults):
    """Train one fresh network per entry of ``step_mults`` (its updates scaled by it), vectorised.

    Returns arrays (runs, steps / record_every) of train loss, train accuracy, eval loss and eval
    accuracy (the eval set is ``data["x_eval"]``).
    """
    _, jnp = _jax()
    fn = _compiled(spec, b, net)
    theta = {k: jnp.asarray(v) for k, v in theta.items()}
    rec = np.asarray(fn["evaluate"](theta, data, _keys(seed, len(step_mults)), jnp.asarray(step_mults, jnp.float32)),
                     dtype=np.float64)
    return {"train_loss": rec[..., 0], "train_acc": rec[..., 1], "eval_loss": rec[..., 2], "eval_acc": rec[..., 3]}


def _grad_norms(data, unrolls, spec: OptimizerSpec, b: Budget, net: Network, seed: int,
                step_mult: float, runs: int, theta):
    """Meta-gradient norms (runs, len(unrolls)), every unroll computed as a prefix of the longest."""
    _, jnp = _jax()
    fn = _compiled(spec, b, net)
    theta = {k: jnp.asarray(v) for k, v in theta.items()}
    keys = _keys(seed, runs)
    out = np.empty((runs, len(unrolls)))
    for j, u in enumerate(unrolls):
        weights = np.where(np.arange(max(unrolls)) < u, 1.0 / u, 0.0).astype(np.float32)
        out[:, j] = np.asarray(fn["grad_norm"](theta, data, keys, jnp.float32(step_mult), jnp.asarray(weights)))
    return out


# ---------------------------------------------------------------------------------------------
# The experiments of Figures 5-7


def _setup(dataset, mnist_path, scale, seed, overrides):
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {SCALES}")
    try:
        b = budget(scale, **overrides)
    except TypeError as e:  # an unknown keyword
        raise ValueError(f"unknown budget argument: {e}") from None
    corpus = digits.load(dataset, mnist_path=mnist_path, seed=seed)
    return b, corpus, Network((corpus.n_features, *b.hidden_layers, digits.N_CLASSES))


def _rows(corpus) -> int:
    """Rows every padded set gets: the pool or the test set, whichever is larger (MNIST files vary)."""
    return max(corpus.n_pool, len(corpus.y_test))


def run_comparison(dataset: str = "digits", n=300, noise: float = 0.0, seeds: int = 5, scale: str = "book",
                   *, seed: int = 0, mnist_path=None, spec: OptimizerSpec | None = None,
                   progress: bool | None = None, **budget_overrides) -> dict:
    """Meta-train TbT and TbV learned optimizers and a grid-tuned SGD; evaluate each on fresh networks.

    ``n`` an integer (Figures 5-6): settings ``"TbT(n)"``, ``"TbT(2n)"``, ``"TbV(n+n)"``, ``"SGD"``;
    every optimizer is then tested by training on the same first n training samples.
    ``n=None`` (Figure 7): all the pool; ``"TbT"`` meta-trains on all of it, ``"TbV"`` on 5/6 of it
    with the last 1/6 as validation (the paper's 50000/10000), and both are tested by training
    on the whole pool. ``"SGD"``'s step is the grid value with the lowest final validation loss
    (on the TbV split). ``noise`` is the label-noise probability of training and validation labels.
    ``seeds`` evaluation runs (fresh initialisations and minibatch orders) per setting.
    Keywords of :class:`Budget` (``steps``, ``meta_iters``, ``hidden_layers``...) override the scale.

    Returns a dict of plain numpy arrays and floats::

        steps         (R,) inner step of each record
        settings      tuple of setting names, in plotting order
        curves[name]  {"train_acc", "test_acc", "train_loss", "test_loss"}: (seeds, R) arrays
        final[name]   {"train_acc", "test_acc", "train_loss", "test_loss"}: (seeds,) arrays at the last step
        summary[name] {"test_acc_mean", "test_acc_std", "test_acc_range", "train_acc_mean"}: floats
        meta[name]    {"loss", "grad_norm"}: (meta_iters,) meta-training history (learned settings)
        thetas[name]  the learned optimizer's meta-parameters (dict of arrays)
        sgd           {"grid": (G,), "valid_loss": (G,), "step": float}
        config        dataset, n, n_train_eval, sizes per setting, noise, seeds, scale, budget fields,
                      clean_label_frac (share of the evaluation training labels that the noise left correct)

    ``seed`` (a non-negative integer) fixes everything random: the digits' pool/test split, the
    training/validation sample and its label noise, meta-training, SGD tuning and evaluation.
    """
    b, corpus, net = _setup(dataset, mnist_path, scale, seed, budget_overrides)
    noise = digits.check_noise(noise)
    seeds = _checks.positive_int(seeds, "seeds")
    spec = OptimizerSpec() if spec is None else spec
    pool = corpus.n_pool
    if n is None:
        n_valid = pool // 6
        plans = {"TbT": (pool, 0, "train"), "TbV": (pool - n_valid, n_valid, "valid")}
        eval_n, tune = pool, (pool - n_valid, n_valid)
    else:
        n = _checks.positive_int(n, "n")
        if 2 * n > pool:
            raise ValueError(f"n={n} is too large: TbT(2n) needs 2n = {2 * n} training samples and "
                             f"{corpus.name!r} has {pool} (use n=None for all the data)")
        plans = {"TbT(n)": (n, 0, "train"), "TbT(2n)": (2 * n, 0, "train"), "TbV(n+n)": (n, n, "valid")}
        eval_n, tune = n, (n, n)
    seq = np.random.SeedSequence(seed)
    meta_seed, eval_seed, tune_seed = (int(s.generate_state(1)[0]) for s in seq.spawn(3))
    split_seed = seed  # one split per seed: the smaller training sets are prefixes of the larger

    ev = digits.split(corpus, eval_n, 0, noise, split_seed)
    # Same seed, no noise: the same samples with their true labels. A network that predicted every
    # true label would score exactly this training accuracy on the noisy labels.
    clean_frac = float(np.mean(ev.y_train == digits.split(corpus, eval_n, 0, 0.0, split_seed).y_train))
    rows = _rows(corpus)
    eval_data = _data(ev.x_train, ev.y_train, ev.x_train, ev.y_train, ev.x_test, ev.y_test, rows)
    out = {"steps": np.arange(1, b.steps // b.record_every + 1) * b.record_every,
           "settings": (*plans, "SGD"), "curves": {}, "final": {}, "summary": {}, "meta": {}, "thetas": {}}

    for name, (n_tr, n_va, target) in plans.items():
        sp = digits.split(corpus, n_tr, n_va, noise, split_seed)
        xt, yt = (sp.x_train, sp.y_train) if target == "train" else (sp.x_valid, sp.y_valid)
        data = _data(sp.x_train, sp.y_train, xt, yt, sp.x_test, sp.y_test, rows)
        theta, hist = meta_train(data, spec, b, net, meta_seed, progress)
        out["thetas"][name], out["meta"][name] = theta, hist
        out["curves"][name] = _rename(_evaluate_steps(theta, eval_data, spec, b, net, eval_seed, np.ones(seeds)))

    # SGD = the untrained optimizer with its step scaled; all grid points and runs in one call.
    sp = digits.split(corpus, tune[0], tune[1], noise, split_seed)
    tune_data = _data(sp.x_train, sp.y_train, sp.x_train, sp.y_train, sp.x_valid, sp.y_valid, rows)
    grid = np.asarray(b.sgd_grid, np.float64)
    tune_runs = 2
    rec = _evaluate_steps(init_optimizer(spec, 0), tune_data, spec, b, net, tune_seed,
                          np.repeat(grid / spec.base_step, tune_runs))
    valid_loss = rec["eval_loss"][:, -1].reshape(len(grid), tune_runs).mean(axis=1)
    valid_loss = np.where(np.isfinite(valid_loss), valid_loss, np.inf)  # a diverged step never wins
    best = float(grid[int(np.argmin(valid_loss))])
    out["sgd"] = {"grid": grid, "valid_loss": valid_loss, "step": best}
    out["curves"]["SGD"] = _rename(_evaluate_steps(init_optimizer(spec, 0), eval_data, spec, b, net, eval_seed,
                                                   np.full(seeds, best / spec.base_step)))

    for name in out["settings"]:
        c = out["curves"][name]
        out["final"][name] = {k: v[:, -1].copy() for k, v in c.items()}
        acc = out["final"][name]["test_acc"]
        out["summary"][name] = {"test_acc_mean": float(acc.mean()), "test_acc_std": float(acc.std()),
                                "test_acc_range": float(acc.max() - acc.min()),
                                "train_acc_mean": float(out["final"][name]["train_acc"].mean())}
    out["config"] = {"dataset": corpus.name, "n": n, "n_train_eval": eval_n, "noise": noise, "seeds": seeds,
                     "clean_label_frac": clean_frac,
                     "scale": scale, "seed": seed, "sizes": {k: v[:2] for k, v in plans.items()},
                     "network": net.sizes, **{f: getattr(b, f) for f in
                                              ("steps", "unroll", "meta_iters", "tasks", "meta_lr", "clip")}}
    return out


def _rename(rec):
    """evaluate()'s eval set is the test set here."""
    return {"train_acc": rec["train_acc"], "test_acc": rec["eval_acc"],
            "train_loss": rec["train_loss"], "test_loss": rec["eval_loss"]}


def meta_gradient_norms(dataset: str = "digits", n=300, noise: float = 0.0, unrolls=(1, 2, 4, 8, 16, 32, 64),
                        step_sizes=(0.05, 0.5), runs: int = 2, scale: str = "book", *, seed: int = 0,
                        mnist_path=None, spec: OptimizerSpec | None = None, theta=None,
                        **budget_overrides) -> np.ndarray:
    """||d meta-loss / d theta|| for unrolls of length U from a fresh network (TbT on n samples).

    The optimizer is ``theta`` (default: untrained, i.e. SGD) with its updates scaled so the
    untrained one takes SGD steps ``step_sizes``. Returns an array
    (len(step_sizes), runs, len(unrolls)); each U is the prefix of one unroll of max(unrolls) steps.
    """
    b, corpus, net = _setup(dataset, mnist_path, scale, seed, budget_overrides)
    noise = digits.check_noise(noise)
    runs = _checks.positive_int(runs, "runs")
    unrolls = [_checks.positive_int(u, "each unroll length") for u in unrolls]
    if not unrolls:
        raise ValueError("unrolls is empty")
    spec = OptimizerSpec() if spec is None else spec
    n = corpus.n_pool if n is None else _checks.positive_int(n, "n")
    if n > corpus.n_pool:
        raise ValueError(f"n={n} exceeds the {corpus.n_pool} training samples of {corpus.name!r}")
    steps = np.asarray(step_sizes, np.float64)
    if steps.ndim != 1 or steps.size == 0 or not np.all(np.isfinite(steps) & (steps > 0)):
        raise ValueError(f"step_sizes must be positive finite numbers, got {step_sizes!r}")
    sp = digits.split(corpus, n, 0, noise, seed)
    data = _data(sp.x_train, sp.y_train, sp.x_train, sp.y_train, sp.x_test, sp.y_test, _rows(corpus))
    theta = init_optimizer(spec, seed) if theta is None else theta
    return np.stack([_grad_norms(data, unrolls, spec, b, net, seed, float(s / spec.base_step), runs, theta)
                     for s in steps])


def run_replicates(dataset: str = "digits", n=300, noise: float = 0.0, seeds: int = 5, scale: str = "book",
                   *, replicates: int = 3, seed: int = 0, **kwargs) -> list:
    """``replicates`` independent :func:`run_comparison` calls, at seeds seed, seed + 1, ...

    Each replicate redraws everything a seed fixes (the digits' pool/test split, the training and
    validation sample and its label noise, meta-training, SGD tuning, the evaluation runs), so
    the spread between replicates measures all of that variation, not only the evaluation runs'.
    Keywords go to :func:`run_comparison`. Returns the list of its results.
    """
    replicates = _checks.positive_int(replicates, "replicates")
    seed = _checks.seed_int(seed)
    return [run_comparison(dataset, n, noise, seeds, scale, seed=seed + i, **kwargs) for i in range(replicates)]


def pool_replicates(results) -> dict:
    """Pool replicates of one comparison (``run_comparison`` results that differ only in ``seed``).

    Returns plain arrays and floats::

        settings, steps, seeds (R,), replicates R, config (the first replicate's, without seed)
        test_acc[name]   (R,) each replicate's mean final test accuracy over its evaluation runs
        train_acc[name]  (R,) the same for training accuracy
        run_range[name]  (R,) each replicate's range (max - min) of final test accuracy over its runs
        mean[name]       mean of test_acc[name] (every replicate has the same number of runs)
        train_mean[name] mean of train_acc[name]
        spread[name]     R >= 2: max - min of test_acc[name] over the replicates (the seed-to-seed
                         spread of a replicate's mean); R = 1: run_range[name][0], which counts the
                         evaluation runs only (``spread_kind`` says which)
        curves[name][k]  (R * runs, records): all runs of all replicates, for plotting
        sgd_steps        (R,) the tuned SGD step of each replicate
        clean_label_frac (R,) share of correct labels in each replicate's evaluation training sample
    """
    if isinstance(results, dict):
        results = [results]
    results = list(results)
    if not results or not all(isinstance(r, dict) and "summary" in r for r in results):
        raise ValueError("pool_replicates needs a non-empty list of run_comparison results")
    first = results[0]
    strip = lambda c: {k: v for k, v in c["config"].items() if k not in ("seed", "clean_label_frac")}
    for r in results[1:]:
        if r["settings"] != first["settings"] or strip(r) != strip(first):
            raise ValueError("replicates must be the same comparison (settings and config) at different seeds")
    seeds = [r["config"]["seed"] for r in results]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"replicates must have distinct seeds, got {seeds}")
    R = len(results)
    out = {"settings": first["settings"], "steps": first["steps"], "seeds": np.asarray(seeds), "replicates": R,
           "config": strip(first), "spread_kind": "replicate means" if R >= 2 else "evaluation runs",
           "sgd_steps": np.asarray([r["sgd"]["step"] for r in results]),
           "clean_label_frac": np.asarray([r["config"]["clean_label_frac"] for r in results])}
    for key in ("test_acc", "train_acc", "run_range", "mean", "train_mean", "spread", "curves"):
        out[key] = {}
    for name in first["settings"]:
        te = np.asarray([r["summary"][name]["test_acc_mean"] for r in results])
        out["test_acc"][name] = te
        out["train_acc"][name] = np.asarray([r["summary"][name]["train_acc_mean"] for r in results])
        out["run_range"][name] = np.asarray([r["summary"][name]["test_acc_range"] for r in results])
        out["mean"][name] = float(te.mean())
        out["train_mean"][name] = float(out["train_acc"][name].mean())
        out["spread"][name] = float(te.max() - te.min()) if R >= 2 else float(out["run_range"][name][0])
        out["curves"][name] = {k: np.concatenate([r["curves"][name][k] for r in results])
                               for k in first["curves"][name]}
    return out


def compare(pooled: dict, a: str, b: str) -> dict:
    """Setting ``a`` against ``b``: pooled mean test-accuracy gap a - b, the spread it is judged
    against (the larger of the two settings' spreads), and the gap in each replicate."""
    for name in (a, b):
        if name not in pooled["mean"]:
            raise ValueError(f"no setting {name!r}; the comparison has {pooled['settings']}")
    return {"gap": pooled["mean"][a] - pooled["mean"][b],
            "spread": max(pooled["spread"][a], pooled["spread"][b]),
            "gaps": pooled["test_acc"][a] - pooled["test_acc"][b]}


def replicate_rows(pooled: dict, a: str, b: str) -> list:
    """One row per replicate: seed, mean test accuracy of ``a`` and ``b``, their gap, the larger of
    the two ranges over that replicate's evaluation runs, and whether the gap exceeds it."""
    c = compare(pooled, a, b)
    rows = []
    for i, seed in enumerate(pooled["seeds"]):
        within = max(pooled["run_range"][a][i], pooled["run_range"][b][i])
        rows.append({"seed": int(seed), a: float(pooled["test_acc"][a][i]), b: float(pooled["test_acc"][b][i]),
                     "gap": float(c["gaps"][i]), "run_range": float(within), "beyond": bool(c["gaps"][i] > within)})
    return rows


def norm_growth(norms, unrolls, start=8, factor=2.0) -> dict:
    """Summaries of :func:`meta_gradient_norms` output (steps, runs, unrolls) for the chapter.

    ``geo`` (steps, unrolls): geometric mean over runs. ``ratio`` (steps,): geo at the longest
    unroll over geo at ``start`` (the first unroll if ``start`` is absent). ``onset`` (steps,):
    the first unroll length whose geo exceeds ``factor`` times the geo at the shortest unroll
    (0 if none does). ``ratio_of_ratios``: the largest step's ratio over the smallest's.
    ``slopes`` (steps, unrolls - 1): local log-log slopes d log(geo) / d log(U) between
    consecutive unrolls (constant for a power law, increasing for an exponential).
    """
    norms = np.asarray(norms, np.float64)
    unrolls = list(unrolls)
    if norms.ndim != 3 or norms.shape[2] != len(unrolls) or not np.all(np.isfinite(norms) & (norms > 0)):
        raise ValueError(f"norms must be a positive finite (steps, runs, {len(unrolls)}) array, got {norms.shape}")
    geo = np.exp(np.log(norms).mean(axis=1))
    i0 = unrolls.index(start) if start in unrolls else 0
    ratio = geo[:, -1] / geo[:, i0]
    onset = np.array([next((u for u, g in zip(unrolls, row) if g > factor * row[0]), 0) for row in geo])
    slopes = np.diff(np.log(geo), axis=1) / np.diff(np.log(np.asarray(unrolls, np.float64)))
    return {"geo": geo, "start": unrolls[i0], "ratio": ratio, "onset": onset, "slopes": slopes,
            "ratio_of_ratios": float(ratio[-1] / ratio[0])}
