"""Insight plots of a sweep: which hyperparameters mattered, and how they interact.

Both take the sweep's DataFrame as ``data`` and the metric as ``y``, like seaborn functions,
and return a matplotlib Figure, so they go straight into the call::

    import radas.plots
    await run_experiment(..., plot_fn=radas.plots.importance, plot_kwargs={"y": "score"})
    await run_experiment(..., plot_fn=radas.plots.parallel_coordinates,
                         plot_kwargs={"y": "score", "params": ["config/lr", "config/optimizer"]})

* :func:`importance` - fANOVA importance of each ``config/`` column for ``y`` (Optuna's
  evaluator), as bars that sum to 1; :func:`param_importances` gives the numbers.
* :func:`parallel_coordinates` - one line per trial across an axis per column (linear, log or
  categorical) and the metric, coloured by the metric.
"""

from radas.plots._importance import importance, param_importances
from radas.plots._parallel import parallel_coordinates

__all__ = ["importance", "param_importances", "parallel_coordinates"]
