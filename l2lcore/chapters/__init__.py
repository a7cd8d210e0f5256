"""One module per chapter of the book: what only that chapter computes, its claims and figures.

The reusable machinery lives in ``l2lcore.quadratic``, ``l2lcore.lsq`` and ``l2lcore.learned``.
"""
