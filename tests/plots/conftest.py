"""The DataFrame of a finished sweep, as ``run_experiment`` gives it to a plot function."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from radas.utils import reduce_by_config_cols

CONFIG_COLUMNS = ["config/lr", "config/optimizer", "config/batch_size", "config/seed"]


@pytest.fixture
def config_columns() -> list[str]:
    """The config columns of ``brief_df`` that vary."""
    return list(CONFIG_COLUMNS)


@pytest.fixture
def brief_df() -> pd.DataFrame:
    """3 learning rates x 2 optimizers x 2 batch sizes x 2 seeds, like ``get_brief_dataframe()``:
    the score depends mostly on lr (best at 1e-4), a little on the optimizer, barely on the rest.
    One more trial errored (no score) and a constant config column is left in."""
    rng = np.random.default_rng(0)
    rows = []
    for lr, optimizer, batch_size, seed in itertools.product([1e-5, 1e-4, 1e-3], ["adam", "sgd"], [16, 32], [0, 1]):
        score = 1 - abs(np.log10(lr) + 4) + 0.2 * (optimizer == "adam") + rng.normal(0, 0.01)
        rows.append({"score": score, "training_iteration": 1, "config/lr": lr, "config/optimizer": optimizer,
                     "config/batch_size": batch_size, "config/seed": seed, "config/epochs": 3,
                     "status": "TERMINATED"})
    rows.append({"score": np.nan, "training_iteration": 0, "config/lr": 1e-2, "config/optimizer": "adam",
                 "config/batch_size": 64, "config/seed": 0, "config/epochs": 3, "status": "ERROR"})
    return pd.DataFrame(rows)


@pytest.fixture
def reduced_df(brief_df: pd.DataFrame) -> pd.DataFrame:
    """``brief_df`` averaged over seeds with ``radas.utils.reduce_by_config_cols``."""
    return reduce_by_config_cols(brief_df, "score", lambda s: s.mean(), CONFIG_COLUMNS[:3])
