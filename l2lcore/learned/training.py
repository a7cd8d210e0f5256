"""Meta-training and evaluation of the learned optimizer (:mod:`l2lcore.learned.optimizer`).

:class:`Budget` says how much work one comparison does (:func:`budget` has the book's and the
paper's presets, and the "long" one between them); :func:`meta_train` meta-trains one optimizer on truncated unrolls with the
optax meta-optimizer of :func:`meta_optimizer` (clipping, Adam), spreading the tasks over the
devices of :func:`task_devices`; ``_evaluate_steps`` trains fresh networks with a (trained or untrained)
optimizer and records accuracy; ``_grad_norms`` measures meta-gradient norms against the unroll
length. The jitted functions are compiled once per (spec, budget, network) and data shape.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, fields, replace

import numpy as np

from .. import _checks
from .optimizer import (Network, OptimizerSpec, _draw, _init_state, _inner_step, _jax, _loss_acc, _sample,
                        _unroll_logs,
                        init_optimizer)

#: The budgets: the book's (executed live), a longer one run once and recorded (the chapter shows
#: the record), and the paper's.
SCALES = ("book", "long", "paper")

#: Meta-steps per learned optimizer at the "long" scale (see :func:`budget`): the estimate
#: (``benchmarks/learned_long.py --estimate``) allowed 1419 in 30 minutes; 1300 leaves a margin.
LONG_META_ITERS = 1300


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
    """The book's reduced budget, the longer recorded one, or the paper's (4000 inner steps);
    keywords override fields.

    ``"long"`` is a budget chosen by measurement (``benchmarks/learned_long.py --estimate``) so
    that the learned chapter's three comparisons with three replicates each take at most 30
    minutes on a 2-core machine: a 1000-step horizon, 4 tasks x 20-step unrolls
    and LONG_META_ITERS meta-steps at the paper's meta learning rate. The recorded run
    (``book/_data/learned-long.json``) says how long it took on the machine it was made on.

    Each field follows the package's rules (:mod:`l2lcore._checks`): integer fields take integers
    (integral floats too), ``meta_lr`` and ``clip`` finite reals > 0, ``hidden_layers`` a
    sequence of positive integers, ``sgd_grid`` a 1-d sequence of step sizes > 0 (no booleans).
    A bad value is a ValueError naming the field; an unknown keyword one naming the keyword.
    """
    known = [f.name for f in fields(Budget)]
    unknown = [k for k in overrides if k not in known]
    if unknown:
        raise ValueError(f"unknown budget argument {unknown[0]!r}; the fields are {known}")
    if scale == "book":
        b = Budget(steps=400, unroll=20, meta_iters=60, tasks=2, record_every=20, meta_lr=1e-2)
    elif scale == "long":
        b = Budget(steps=1000, unroll=20, meta_iters=LONG_META_ITERS, tasks=4, record_every=50, meta_lr=3e-3)
    elif scale == "paper":
        b = Budget(steps=4000, unroll=50, meta_iters=2000, tasks=4, record_every=100, meta_lr=3e-3)
    else:
        raise ValueError(f"unknown scale {scale!r}; choose one of {SCALES}")
    checked = {}
    for name, v in overrides.items():
        if name in ("steps", "unroll", "meta_iters", "tasks", "record_every", "batch", "target_batch"):
            checked[name] = _checks.positive_int(v, f"budget.{name}")
        elif name in ("meta_lr", "clip"):
            checked[name] = _checks.real(v, f"budget.{name}", positive=True)
        elif name == "hidden_layers":  # a tuple: the compiled functions are cached by budget
            checked[name] = tuple(_checks.positive_ints(v, "budget.hidden_layers", "each entry of budget.hidden_layers"))
        else:  # sgd_grid
            grid = _checks.reals(v, "budget.sgd_grid", ndim=1, positive=True)
            checked[name] = tuple(float(x) for x in grid)
    b = replace(b, **checked)
    for name in ("unroll", "record_every"):
        if b.steps % getattr(b, name):
            raise ValueError(f"budget.steps={b.steps} must be a multiple of budget.{name}={getattr(b, name)}")
    return b


def meta_optimizer(b: Budget):
    """The meta-optimizer, in optax: the meta-gradient clipped to ``b.clip`` in global norm, then
    Adam with step ``b.meta_lr``; a meta-gradient with a non-finite entry is skipped (the step
    is not taken and Adam's moments are left as they were)."""
    import optax

    # Never give up skipping (optax's default applies the update after too many in a row); a
    # constant, so the compiled step does not depend on the number of meta-steps.
    return optax.apply_if_finite(optax.chain(optax.clip_by_global_norm(b.clip), optax.adam(b.meta_lr)),
                                 max_consecutive_errors=2**31 - 1)


def task_devices(tasks: int) -> list:
    """The devices meta-training spreads its ``tasks`` unrolls over: as many as divide ``tasks``
    evenly (each device runs tasks / len(devices) of them)."""
    jax, _ = _jax()
    devices = jax.devices()
    n = max(k for k in range(1, min(tasks, len(devices)) + 1) if tasks % k == 0)
    return devices[:n]


def _compiled(spec: OptimizerSpec, b: Budget, net: Network):
    """The jitted functions for one (spec, budget, network): compiled once per shape of the data,
    whatever the number of meta-steps (the programs do not depend on it)."""
    return _programs(spec, replace(b, meta_iters=1), net)


@functools.cache
def _programs(spec: OptimizerSpec, b: Budget, net: Network):
    jax, jnp = _jax()
    from jax.experimental.shard_map import shard_map
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    opt = meta_optimizer(b)
    mesh = Mesh(np.asarray(task_devices(b.tasks)), ("tasks",))

    def fresh(key):
        return _init_state(spec, net, key)

    def draws(data, key, n_steps):
        return jax.vmap(lambda k: _draw(b, data, k))(jax.random.split(key, n_steps))

    def advance(theta, state, data, key, n_steps):
        """n_steps inner steps, no gradient (staggers the meta-training tasks)."""
        def body(i, st):
            x, y = _sample(data, "train", jax.random.fold_in(key, i), b.batch)
            return _inner_step(spec, b, net, theta, st, x, y, 1.0)
        return jax.lax.fori_loop(0, n_steps, body, state)

    def task_grads(theta, states, batches):
        """One device's tasks: each one's meta-loss (1/U) sum_k log l(w_k; B_k), the meta-gradient
        of their sum (added over the devices once, after the unroll) and their states after it."""
        def total(th):
            # theta copied per task, so that every product with it is a batched product (a
            # shared theta would make the tasks one wide matrix, and its gradient a transpose)
            per_task = jax.tree_util.tree_map(lambda p: jnp.broadcast_to(p, (states["k"].shape[0], *p.shape)), th)
            new, logs = jax.vmap(lambda t, s, bt: _unroll_logs(spec, b, net, t, s, bt, 1.0))(per_task, states, batches)
            losses = jnp.mean(logs, axis=1)
            return jnp.sum(losses), (losses, new)

        (_, (losses, new)), grad = jax.value_and_grad(total, has_aux=True)(theta)
        return losses, jax.tree_util.tree_map(lambda g: jax.lax.psum(g, "tasks") / b.tasks, grad), new

    # The tasks are independent until their meta-gradients are averaged: each device unrolls and
    # differentiates its share on its own, and the one psum above adds the devices' gradients.
    # check_rep=False is needed for correctness, not only speed: with the replication check on,
    # JAX sums the gradient of the replicated theta over the devices itself (inside the unroll,
    # one synchronisation per step), and the psum would count it twice.
    sharded = shard_map(task_grads, mesh=mesh, in_specs=(PartitionSpec(), PartitionSpec("tasks"),
                                                         PartitionSpec("tasks")),
                        out_specs=(PartitionSpec("tasks"), PartitionSpec(), PartitionSpec("tasks")),
                        check_rep=False)

    def meta_step(theta, opt_state, states, data, key):
        k_unroll, k_reset = jax.random.split(key)
        batches = jax.vmap(lambda k: draws(data, k, b.unroll))(jax.random.split(k_unroll, b.tasks))
        losses, grad, new = sharded(theta, states, batches)
        loss = jnp.mean(losses)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grad)))
        ok = jnp.isfinite(norm) & jnp.isfinite(loss)
        # A non-finite meta-loss poisons the gradient too, so the optimizer skips both alike.
        grad = jax.tree_util.tree_map(lambda g: jnp.where(ok, g, jnp.nan), grad)
        updates, opt_state = opt.update(grad, opt_state, theta)
        theta = jax.tree_util.tree_map(lambda p, u: p + u, theta, updates)
        # A task that finished its horizon, or diverged, restarts from a fresh initialisation.
        fresh_states = jax.vmap(fresh)(jax.random.split(k_reset, b.tasks))
        bad = ~jnp.all(jnp.isfinite(new["w"]), axis=1)
        done = (new["k"] >= b.steps) | bad | ~ok
        states = jax.tree_util.tree_map(
            lambda f, s: jnp.where(done.reshape((-1,) + (1,) * (s.ndim - 1)), f, s), fresh_states, new)
        return theta, opt_state, states, loss, norm

    def evaluate(theta, data, key, step_mult):
        """Train a fresh network for b.steps steps; record train/eval loss and accuracy."""
        k_init, k_run = jax.random.split(key)

        def chunk(st, i):
            def body(j, s):
                x, y = _sample(data, "train", jax.random.fold_in(k_run, i * b.record_every + j), b.batch)
                return _inner_step(spec, b, net, theta, s, x, y, step_mult)
            st = jax.lax.fori_loop(0, b.record_every, body, st)
            tr = _loss_acc(net, st["w"], data["x_train"], data["y_train"], data["mask_train"])
            ev = _loss_acc(net, st["w"], data["x_eval"], data["y_eval"], data["mask_eval"])
            return st, jnp.stack([tr[0], tr[1], ev[0], ev[1]])

        _, rec = jax.lax.scan(chunk, fresh(k_init), jnp.arange(b.steps // b.record_every))
        return rec

    def grad_norm(theta, data, key, step_mult, weights):
        """||grad_theta sum_k weights_k log l(w_k)||: with weights 1/U on the first U steps and 0
        after, the meta-gradient of an unroll of length U (one compilation for every U)."""
        batches = draws(data, key, weights.size)
        start = fresh(jax.random.fold_in(key, 1))
        g = jax.grad(lambda th: jnp.sum(weights * _unroll_logs(spec, b, net, th, start, batches, step_mult)[1]))(theta)
        return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(g)))

    def place(theta, opt_state, states):
        """Inputs laid out as meta_step lays out its outputs (tasks split, the rest replicated),
        so its first call compiles the same program as every later one."""
        whole, split = NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("tasks"))
        return jax.device_put(theta, whole), jax.device_put(opt_state, whole), jax.device_put(states, split)

    return {"fresh": jax.jit(jax.vmap(fresh)), "opt": opt, "place": place,
            "advance": jax.jit(jax.vmap(advance, in_axes=(None, 0, None, 0, 0))),
            "meta_step": jax.jit(meta_step),
            "evaluate": jax.jit(jax.vmap(evaluate, in_axes=(None, None, 0, 0))),
            "grad_norm": jax.jit(jax.vmap(grad_norm, in_axes=(None, None, 0, None, None)))}


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
    states = fn["fresh"](_keys(k_tasks, b.tasks))
    # Tasks start spread over the horizon (multiples of U), so each meta-gradient mixes
    # early and late training instead of sweeping the horizon in lockstep.
    offsets = (np.arange(b.tasks) * (b.steps // b.unroll) // b.tasks) * b.unroll
    states = fn["advance"](theta, states, data, _keys(k_stagger, b.tasks), jnp.asarray(offsets, jnp.int32))
    theta, opt_state, states = fn["place"](theta, fn["opt"].init(theta), states)
    keys = _keys(k_steps, b.meta_iters)
    losses, norms = np.empty(b.meta_iters), np.empty(b.meta_iters)
    show = sys.stderr.isatty() if progress is None else progress
    for it in tqdm(range(b.meta_iters), disable=not show, desc="meta-training", leave=False):
        theta, opt_state, states, loss, norm = fn["meta_step"](theta, opt_state, states, data, keys[it])
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


