"""``run_experiment``: one awaitable call from a search space to a DataFrame, a figure and
an email.

The story of one call (:mod:`radas.experiment._run`): **check** every argument
(``_validate``), **locate** the experiment on its target, **choose** what to do (``_choice``),
**run** it on a backend (:mod:`radas.backends`), **analyze** the results into a DataFrame and a
figure (``_analysis``), **notify** by email (``_notify``) - then return ``{"df", "tuner", "fig"}``.
"""

from radas.experiment._analysis import default_process_sns_fn
from radas.experiment._run import run_experiment

__all__ = ["run_experiment", "default_process_sns_fn"]
