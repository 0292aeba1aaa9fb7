"""``radas.Tuner``: a ``ray.tune.Tuner`` that also gives tidy DataFrames.

* :meth:`Tuner.get_dataframe` - one row per trial: its last reported result, its config as
  ``config/<key>`` columns (nested keys joined with ``/``), ``status`` and ``error``.
* :meth:`Tuner.get_brief_dataframe` - the same without Ray's bookkeeping columns.
* :meth:`Tuner.get_iteration_dataframe` - every reported row of every trial with its config,
  for learning curves.

Also :func:`annotate_trial` / :func:`read_trial_notes` (values about a trial that become
DataFrame columns) and :func:`keep_reported_metrics`.
"""

from radas.sweep import (
    BOOKKEEPING_COLUMNS,
    REPORTED_KEY,
    Tuner,
    annotate_trial,
    default_tuner_to_df_fn,
    keep_reported_metrics,
    read_trial_notes,
)

__all__ = [
    "Tuner", "BOOKKEEPING_COLUMNS", "REPORTED_KEY", "default_tuner_to_df_fn", "keep_reported_metrics",
    "annotate_trial", "read_trial_notes",
]
