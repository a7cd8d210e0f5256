"""The experiments of Figures 5-7: TbT and TbV learned optimizers against a grid-tuned SGD
(:func:`run_comparison`), independent replicates of one comparison (:func:`run_replicates`,
:func:`pool_replicates`, :func:`compare`, :func:`replicate_rows`), and the meta-gradient norm
against the unroll length (:func:`meta_gradient_norms`, :func:`norm_growth`).
"""
from __future__ import annotations

import numpy as np

from .. import _checks
from . import digits
from .optimizer import Network, OptimizerSpec, init_optimizer
from .training import SCALES, _data, _evaluate_steps, _grad_norms, budget, meta_train


def _setup(dataset, mnist_path, scale, seed, overrides):
    """The budget, the corpus and the network, every argument checked before the data are loaded."""
    if not isinstance(scale, str) or scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {SCALES}")
    b = budget(scale, **overrides)
    if not isinstance(dataset, str) or dataset not in digits.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {digits.DATASETS}")
    digits.check_mnist_path(mnist_path)
    _checks.seed_int(seed)
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
    noise = digits.check_noise(noise)
    seeds = _checks.positive_int(seeds, "seeds")
    spec = _spec(spec)
    if progress is not None:
        _checks.flag(progress, "progress")
    if n is not None:
        n = _checks.positive_int(n, "n")
    b, corpus, net = _setup(dataset, mnist_path, scale, seed, budget_overrides)
    plans, eval_n, tune = _plans(corpus, n)
    meta_seed, eval_seed, tune_seed = _seeds(seed)
    split_seed = seed  # one split per seed: the smaller training sets are prefixes of the larger

    ev = digits.split(corpus, eval_n, 0, noise, split_seed)
    # Same seed, no noise: the same samples with their true labels. A network that predicted every
    # true label would score exactly this training accuracy on the noisy labels.
    clean_frac = float(np.mean(ev.y_train == digits.split(corpus, eval_n, 0, 0.0, split_seed).y_train))
    rows = _rows(corpus)
    eval_data = _data(ev.x_train, ev.y_train, ev.x_train, ev.y_train, ev.x_test, ev.y_test, rows)
    out = {"steps": np.arange(1, b.steps // b.record_every + 1) * b.record_every,
           "settings": (*plans, "SGD"), "curves": {}, "final": {}, "summary": {}, "meta": {}, "thetas": {}}

    for name, plan in plans.items():
        theta, hist = meta_train(_meta_data(corpus, plan, noise, split_seed), spec, b, net, meta_seed, progress)
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


def _seeds(seed: int) -> tuple:
    """The seeds of a comparison's meta-training, evaluation and SGD tuning, from its one seed."""
    return tuple(int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(3))


def _plans(corpus, n):
    """The learned settings of a comparison, each (training samples, validation samples, target
    set), the training-set size of evaluation, and the (training, validation) split SGD is tuned on."""
    pool = corpus.n_pool
    if n is None:
        n_valid = pool // 6
        plans = {"TbT": (pool, 0, "train"), "TbV": (pool - n_valid, n_valid, "valid")}
        return plans, pool, (pool - n_valid, n_valid)
    if 2 * n > pool:
        raise ValueError(f"n={n} is too large: TbT(2n) needs 2n = {2 * n} training samples and "
                         f"{corpus.name!r} has {pool} (use n=None for all the data)")
    plans = {"TbT(n)": (n, 0, "train"), "TbT(2n)": (2 * n, 0, "train"), "TbV(n+n)": (n, n, "valid")}
    return plans, n, (n, n)


def _meta_data(corpus, plan, noise, seed):
    """The arrays a learned setting is meta-trained on: its training sample, and as target set
    the same sample (TbT) or its validation sample (TbV)."""
    n_tr, n_va, target = plan
    sp = digits.split(corpus, n_tr, n_va, noise, seed)
    xt, yt = (sp.x_train, sp.y_train) if target == "train" else (sp.x_valid, sp.y_valid)
    return _data(sp.x_train, sp.y_train, xt, yt, sp.x_test, sp.y_test, _rows(corpus))


def meta_train_setting(setting: str, dataset: str = "digits", n=300, noise: float = 0.0, scale: str = "book", *,
                       seed: int = 0, mnist_path=None, spec: OptimizerSpec | None = None, **budget_overrides):
    """Meta-train the learned ``setting`` of ``run_comparison(dataset, n, noise, scale=scale,
    seed=seed)`` exactly as that run does (same data, same seeds), and return ``(theta, history)``
    as :func:`l2lcore.learned.meta_train` does. With ``meta_iters`` lowered, the history is the
    start of the full run's (the meta-steps' keys do not depend on their number)."""
    noise = digits.check_noise(noise)
    spec = _spec(spec)
    if n is not None:
        n = _checks.positive_int(n, "n")
    b, corpus, net = _setup(dataset, mnist_path, scale, seed, budget_overrides)
    plans = _plans(corpus, n)[0]
    if setting not in plans:
        raise ValueError(f"unknown setting {setting!r}; with n={n} the learned settings are {tuple(plans)}")
    meta_seed = _seeds(seed)[0]
    return meta_train(_meta_data(corpus, plans[setting], noise, seed), spec, b, net, meta_seed, False)


def _spec(spec) -> OptimizerSpec:
    if spec is None:
        return OptimizerSpec()
    if not isinstance(spec, OptimizerSpec):
        raise ValueError(f"spec must be an OptimizerSpec or None, got {spec!r}")
    return spec


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
    noise = digits.check_noise(noise)
    runs = _checks.positive_int(runs, "runs")
    unrolls = _checks.positive_ints(unrolls, "unrolls", "each unroll length")
    spec = _spec(spec)
    if n is not None:
        n = _checks.positive_int(n, "n")
    steps = _checks.reals(step_sizes, "step_sizes", ndim=1, positive=True)
    b, corpus, net = _setup(dataset, mnist_path, scale, seed, budget_overrides)
    n = corpus.n_pool if n is None else n
    if n > corpus.n_pool:
        raise ValueError(f"n={n} exceeds the {corpus.n_pool} training samples of {corpus.name!r}")
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
