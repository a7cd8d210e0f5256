"""A neural learned optimizer on real digits (paper Section 5, Figures 5-7).

``digits``: the data (scikit-learn's 8x8 digits, or MNIST from a local path); ``optimizer``: the
learned optimizer and its inner network; ``training``: the budget, meta-training and evaluation;
``comparison``: the TbT / TbV / tuned-SGD comparison (:func:`run_comparison`), its replicates and
the meta-gradient norms. ``experiment`` re-exports all three under their former module name.
JAX is imported only when something is run.
"""
from .experiment import *  # noqa: F401,F403
from .experiment import _jax  # noqa: F401
