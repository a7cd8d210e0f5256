"""Compatibility: everything of the learned optimizer's machinery under its old module name.

The machinery lives in three modules named after what they hold: :mod:`.optimizer` (the learned
optimizer and its inner network), :mod:`.training` (the budget, meta-training, evaluation) and
:mod:`.comparison` (the experiments of Figures 5-7 and their summaries).
"""
from .comparison import *  # noqa: F401,F403
from .comparison import _rename, _rows, _setup  # noqa: F401
from .optimizer import *  # noqa: F401,F403
from .optimizer import (_draw, _init_net, _init_state, _inner_step, _jax, _loss, _loss_acc,  # noqa: F401
                        _sample, _unroll_logs)
from .training import *  # noqa: F401,F403
from .training import _compiled, _data, _evaluate_steps, _grad_norms, _keys, _pad  # noqa: F401
