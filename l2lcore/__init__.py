"""l2lcore: exact and floating-point meta-gradients for learning a step size.

Companion code to Wang, Yuan, Wu and Ge, *Guarantees for Tuning the Step Size using a
Learning-to-Learn Approach* (ICML 2021).
"""
__version__ = "0.1.0"

from .claims import Claim, claims_table  # noqa: E402
from .quadratic import QuadraticTask  # noqa: E402
from .meta import meta_descent, meta_gradient, meta_objective  # noqa: E402
from .exact import CertificationError  # noqa: E402

__all__ = [
    "Claim",
    "CertificationError",
    "QuadraticTask",
    "claims_table",
    "meta_descent",
    "meta_gradient",
    "meta_objective",
]
