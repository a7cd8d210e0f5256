"""A neural learned optimizer on real digits (paper Section 5, Figures 5-7).

``digits``: the data (scikit-learn's 8x8 digits, or MNIST from a local path); ``experiment``: the
learned optimizer, its meta-training and the TbT / TbV / tuned-SGD comparison
(:func:`run_comparison`). JAX is imported only when something is run.
"""
from .experiment import *  # noqa: F401,F403
from .experiment import _jax  # noqa: F401
