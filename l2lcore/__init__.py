"""l2lcore: exact and floating-point meta-gradients for learning a step size.

Companion code to Wang, Yuan, Wu and Ge, *Guarantees for Tuning the Step Size using a
Learning-to-Learn Approach* (ICML 2021).

Layout, by the paper's sections:

* ``l2lcore.quadratic``: one quadratic task (Section 3): ``task``, ``exact``, ``backprop``,
  ``stable``, ``meta``.
* ``l2lcore.lsq``: least squares, train-by-train against train-by-validation (Section 4).
* ``l2lcore.learned``: the neural learned optimizer on digits (Section 5).
* ``l2lcore.chapters``: one module per chapter of the book (its computations, claims, figures).
* ``l2lcore.book``: what the chapters share (claims tables, figures, citation footer).
"""
__version__ = "0.1.0"

from .book.claims import Claim, claims_table  # noqa: E402
from .quadratic.task import QuadraticTask  # noqa: E402
from .quadratic.meta import meta_descent, meta_gradient, meta_objective  # noqa: E402
from .quadratic.exact import CertificationError  # noqa: E402

__all__ = [
    "Claim",
    "CertificationError",
    "QuadraticTask",
    "claims_table",
    "meta_descent",
    "meta_gradient",
    "meta_objective",
]
