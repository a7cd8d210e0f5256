"""Meta-training of the learned optimizer: the fast step against the straightforward one, side by side.

Target (issue 12): at the paper's budget (4 tasks x 50-step unrolls) at least 3x faster per inner
step of meta-training than the straightforward implementation (l2lcore.learned.reference), on
the same machine in the same process, with the same mathematics (the script checks that both
give the same meta-loss, and stops if not). For the book's and the paper's budgets it prints the time per
meta-step and per inner step of each, their ratio, the arithmetic of one inner step counted by
XLA's cost analysis (a whole meta-step of one task and a one-step unroll, so the loop is counted
once; it includes the meta-step's own small overhead: drawing the batch, Adam, restarting
tasks) and the achieved rate: the straightforward step's count (what the mathematics needs; the fast step recomputes
each step's forward pass in the backward pass, its own count is printed beside) over the time.
Each step's time is its fastest single call over ``--repeats`` interleaved blocks of three calls.
Usage: python benchmarks/learned.py [--repeats N] [--budgets book paper]
"""
import argparse
import time

import numpy as np
from tqdm import tqdm

from l2lcore.learned import digits, reference
from l2lcore.learned.optimizer import Network, OptimizerSpec, init_optimizer
from l2lcore.learned.training import _compiled, _data, _keys, budget, task_devices


def digits_data(seed=0):
    """TbV data as the chapter's Figure 5 comparison meta-trains on it (300 + 300 samples)."""
    corpus = digits.load("digits", seed=seed)
    sp = digits.split(corpus, 300, 300, 0.0, seed)
    return _data(sp.x_train, sp.y_train, sp.x_valid, sp.y_valid, sp.x_test, sp.y_test,
                 max(corpus.n_pool, len(corpus.y_test))), corpus.n_features


def steps(spec, b, net, data):
    """Both meta-steps, compiled and started from the same theta (output layer not at zero, so the
    learned part of the update is exercised), as zero-argument callables returning the loss."""
    import jax.numpy as jnp

    theta = init_optimizer(spec, 0)
    theta["w2"] = np.full_like(theta["w2"], 0.01)
    theta = {k: jnp.asarray(v) for k, v in theta.items()}
    fn, ref = _compiled(spec, b, net), reference.meta_step(spec, b, net)
    states = fn["fresh"](_keys(1, b.tasks))
    key = _keys(2, 1)[0]
    adam, it = reference.init_adam(theta), jnp.asarray(0, jnp.int32)
    placed = fn["place"](theta, fn["opt"].init(theta), states)
    import jax

    return (lambda: jax.block_until_ready(ref(theta, adam, states, data, key, it))[3],
            lambda: jax.block_until_ready(fn["meta_step"](*placed, data, key))[3])


def flops_per_inner_step(spec, scale, net, data):
    """XLA's count of one inner step of meta-training (forward and backward), for both steps."""
    import jax.numpy as jnp

    b = budget(scale, unroll=1, tasks=1)
    theta = {k: jnp.asarray(v) for k, v in init_optimizer(spec, 0).items()}
    fn, ref = _compiled(spec, b, net), reference.meta_step(spec, b, net)
    states = fn["fresh"](_keys(1, 1))
    key = _keys(2, 1)[0]
    count = lambda f, *a: f.lower(*a).compile().cost_analysis()["flops"]
    return (count(ref, theta, reference.init_adam(theta), states, data, key, jnp.asarray(0, jnp.int32)),
            count(fn["meta_step"], *fn["place"](theta, fn["opt"].init(theta), states), data, key))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budgets", nargs="+", default=["book", "paper"], choices=["book", "paper"])
    args = parser.parse_args()
    import jax

    data, n_features = digits_data()
    spec = OptimizerSpec()
    print(f"JAX {jax.__version__} on {jax.default_backend()}, devices: {len(jax.devices())}")
    for scale in args.budgets:
        b = budget(scale)
        net = Network((n_features, *b.hidden_layers, digits.N_CLASSES))
        ref, fast = steps(spec, b, net, data)
        a, c = float(ref()), float(fast())  # compiles both
        if not np.isclose(a, c, rtol=1e-5):
            raise SystemExit(f"the two steps disagree: meta-loss {a} (straightforward) vs {c} (fast)")
        times = {"straightforward": [], "fast": []}
        for _ in tqdm(range(args.repeats), desc=f"{scale} budget", leave=False):
            # Interleaved, so both see the same load, in blocks of three calls: the first call
            # after switching programs runs measurably slower (about 15 ms here), whichever it is.
            for name, f in (("straightforward", ref), ("fast", fast)):
                for _ in range(3):
                    start = time.perf_counter()
                    float(f())
                    times[name].append(time.perf_counter() - start)
        best = {k: min(v) for k, v in times.items()}
        inner = b.tasks * b.unroll
        f_ref, f_fast = flops_per_inner_step(spec, scale, net, data)
        print(f"\n{scale} budget: {b.tasks} tasks x {b.unroll}-step unrolls, network {net.sizes} "
              f"({net.n_params} weights), tasks over {len(task_devices(b.tasks))} device(s)")
        print(f"  same meta-loss: {a:.7g} (straightforward) vs {c:.7g} (fast)")
        print(f"  FLOPs per inner step (XLA cost analysis): {f_ref / 1e6:.1f} M needed "
              f"(straightforward), {f_fast / 1e6:.1f} M done by the fast step (it recomputes the forward pass)")
        for name in ("straightforward", "fast"):
            per = best[name] / inner
            print(f"  {name:>15}: {best[name] * 1e3:7.1f} ms per meta-step, {per * 1e3:5.2f} ms per inner step, "
                  f"{f_ref / per / 1e9:5.1f} GFLOP/s achieved")
        ratio = best["straightforward"] / best["fast"]
        target = " (target >= 3x: " + ("met" if ratio >= 3 else "NOT met") + ")" if scale == "paper" else ""
        print(f"  fast / straightforward: {ratio:.2f}x faster per inner step{target}")


if __name__ == "__main__":
    main()
