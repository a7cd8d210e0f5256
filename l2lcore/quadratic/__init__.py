"""One quadratic task (paper Section 3): the task, its exact (mpmath) meta-objectives, float
backpropagation through the unrolled loop, the rescaled float64 closed forms, and the public
meta-objective / meta-gradient / meta-descent entry points that choose between them."""
from .task import QuadraticTask, Spectrum

__all__ = ["QuadraticTask", "Spectrum"]
