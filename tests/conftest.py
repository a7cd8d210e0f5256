import sys
from pathlib import Path

# The exact rational oracle (tests/quadratic/oracle.py) is imported by name.
sys.path.insert(0, str(Path(__file__).parent / "quadratic"))


# --- the learned optimizer's small runs, shared by tests/learned and tests/chapters/test_learned.py
# (computed once per session: they are the slowest fixtures of the suite)
import pytest  # noqa: E402

# Before anything starts JAX: one CPU device per core, as the book's kernels get, so the tests
# run meta-training sharded as the book does.
from l2lcore.learned.optimizer import _jax  # noqa: E402

_jax()

# The book's horizon with a smaller network and meta-training; noise, n, the number of
# replicates and the claims are the learned chapter's.
LEARNED_SMALL = {"steps": 400, "unroll": 20, "record_every": 40, "meta_iters": 40, "tasks": 1, "hidden_layers": (32,)}
LEARNED_REPLICATES = 3


@pytest.fixture(scope="session")
def learned_noisy_runs():
    pytest.importorskip("jax")
    pytest.importorskip("sklearn")
    from l2lcore.learned import run_replicates

    return run_replicates("digits", n=300, noise=0.2, seeds=5, replicates=LEARNED_REPLICATES, **LEARNED_SMALL)


@pytest.fixture(scope="session")
def learned_full_runs():
    pytest.importorskip("jax")
    pytest.importorskip("sklearn")
    from l2lcore.learned import run_replicates

    return run_replicates("digits", n=None, noise=0.0, seeds=5, replicates=LEARNED_REPLICATES, **LEARNED_SMALL)
