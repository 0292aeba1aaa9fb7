"""Which config columns explain a metric: fANOVA importances (Optuna's evaluators) and their plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd

from radas.plots._columns import Axis, check_labels, trials_and_axes
from radas.plots._figure import target_axes


def _distribution(axis: Axis) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if axis.kind == "categorical":
        return CategoricalDistribution(list(axis.categories))
    if axis.kind == "int":
        return IntDistribution(int(axis.low), int(axis.high), log=axis.log)
    return FloatDistribution(axis.low, axis.high, log=axis.log)


def param_importances(
    data: pd.DataFrame,
    *,
    y: str,
    params: Sequence[str] | None = None,
    log_scale: Literal["auto"] | Sequence[str] = "auto",
    evaluator: Any = None,
    seed: int = 0,
) -> pd.Series:
    """How much of the variation of the metric ``y`` each parameter column explains.

    The trials (rows of ``data`` with a finite ``y``) become an Optuna study: each parameter
    column gets a distribution inferred from its values (numbers: int or float, on a log scale
    when ``log_scale`` says so; anything else: categorical), and
    ``optuna.importance.get_param_importances`` evaluates it with ``evaluator``
    (default: ``FanovaImportanceEvaluator(seed=seed)``, fANOVA on a random forest).

    Args:
        data: one row per trial (``results["df"]``, seeds reduced or not).
        y: the metric column.
        params: the parameter columns; default: every ``config/`` column that varies.
        log_scale: ``"auto"`` (positive numbers spanning two decades or more) or the columns.
        evaluator: any ``optuna.importance`` evaluator.
        seed: the seed of the default evaluator (the same data give the same importances).

    Returns:
        A Series named ``"importance"``, indexed by parameter, largest first; the importances
        are normalised to sum to 1 (a column that never varies gets 0).

    Raises:
        RadasValueError: ``y`` is not a numeric column, fewer than 2 trials have a finite ``y``,
            ``y`` never varies, or ``params`` names a missing column.
    """
    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    rows, axes = trials_and_axes(data, y, params, log_scale, "importance")
    distributions = {axis.column: _distribution(axis) for axis in axes}
    values = {axis.column: axis.values(rows[axis.column]) for axis in axes}
    trials = [
        optuna.trial.create_trial(
            value=value, params={name: values[name][i] for name in distributions}, distributions=distributions
        )
        for i, value in enumerate(rows[y])
    ]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        study = optuna.create_study()
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(trials)
    scores = optuna.importance.get_param_importances(
        study, evaluator=FanovaImportanceEvaluator(seed=seed) if evaluator is None else evaluator, normalize=True
    )
    series = pd.Series({name: float(score) for name, score in scores.items()}, name="importance", dtype=float)
    series.index.name = "parameter"
    return series.sort_values(ascending=False, kind="stable")


def importance(
    data: pd.DataFrame,
    *,
    y: str,
    params: Sequence[str] | None = None,
    log_scale: Literal["auto"] | Sequence[str] = "auto",
    evaluator: Any = None,
    seed: int = 0,
    labels: Mapping[str, str] | None = None,
    color: Any = None,
    ax: Any = None,
) -> Any:
    """Plot :func:`param_importances` as horizontal bars, most important on top; return the Figure.

    Use it like a seaborn function, alone or in the call::

        run_experiment(..., plot_fn=radas.plots.importance, plot_kwargs={"y": "score"})

    The bars are named after the parameter columns (``labels={"config/lr": "learning rate"}``
    renames them) and carry their share of the total (they sum to 1). ``ax`` draws into an
    existing Axes; otherwise the figure is sized for the number of parameters. The other
    arguments are those of :func:`param_importances`; ``color`` is the bars' colour.
    """
    names = check_labels(labels, "importance")
    scores = param_importances(data, y=y, params=params, log_scale=log_scale, evaluator=evaluator, seed=seed)
    ax = target_axes(ax, (7.0, 1.5 + 0.6 * len(scores)))
    ordered = scores.iloc[::-1]  # barh draws from the bottom up
    bars = ax.barh([str(names.get(c, c)) for c in ordered.index], ordered.to_numpy(), color=color)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in ordered], padding=3)
    ax.set_xlim(0, max(1e-9, float(ordered.max())) * 1.2)
    ax.set_xlabel(f"importance for {names.get(y, y)}")
    ax.grid(False, axis="y")
    return ax.figure
