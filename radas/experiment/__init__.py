"""``run_experiment``: one awaitable call from a search space to a DataFrame, a figure and
an email.

The story of one call (:mod:`radas.experiment._run`): **check** every argument
(``_validate``), **locate** the experiment on its target, **choose** what to do (``_choice``),
**run** it on a backend (:mod:`radas.backends`) while its live figure and report page are redrawn
(``_live``), **analyze** the results into a DataFrame and a figure (``_analysis``), **report** on a
page next to the results (``_report``, ``_page``, ``_figures``) and **notify** by email
(``_notify``) - then return ``{"df", "tuner", "fig"}``. :func:`report` writes the pages on demand.
"""

from radas.experiment._analysis import default_process_sns_fn
from radas.experiment._report import report
from radas.experiment._run import run_experiment

__all__ = ["run_experiment", "report", "default_process_sns_fn"]
