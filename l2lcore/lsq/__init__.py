"""Least squares tasks (paper Section 4): train-by-train (TbT) against train-by-validation (TbV).

``gd``: the tasks, GD's spectral fast path and reference loop, the meta-objectives and the
test-time comparison (:func:`compare_tbt_tbv`); ``sgd``: SGD as the inner optimizer;
``horizon``: the minimizers against the horizon t; ``stats``: confidence intervals.
The names most used are re-exported here (``l2lcore.lsq.compare_tbt_tbv``).
"""
from .gd import *  # noqa: F401,F403
from .horizon import FLAT, HORIZON_SPAN, HorizonSweep, horizon_over_seeds, one_over_t, sweep_horizon  # noqa: F401
from .stats import mean_ci, shrinkage_gain  # noqa: F401
