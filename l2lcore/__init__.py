"""l2lcore: exact and floating-point meta-gradients for learning a step size.

Companion code to Wang, Yuan, Wu and Ge, *Guarantees for Tuning the Step Size using a
Learning-to-Learn Approach* (ICML 2021).
"""
__version__ = "0.1.0"

from .claims import Claim, claims_table  # noqa: E402
