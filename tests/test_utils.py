"""radas.utils and the explode helpers."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch

import radas
from radas.utils import (
    config_seed,
    get_current_user_name,
    print_error,
    print_info,
    print_warning,
    reduce_by_config_cols,
    reduce_by_reduced_col,
    set_seed,
)

DF = pd.DataFrame({
    "config/lr": [0.1, 0.1, 0.2, 0.2],
    "config/seed": [0, 1, 0, 1],
    "config/wd": [0, 0, 0, 0],
    "score": [1.0, 3.0, 5.0, 7.0],
})


def test_set_seed_makes_random_numpy_and_torch_repeatable():
    set_seed(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_seed(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_config_seed_uses_seed_key():
    assert config_seed({"seed": 3}) == 3
    assert config_seed({"lr": 1}) is None


def test_user_name_and_messages(capsys):
    assert get_current_user_name()
    print_info("hello")
    print_warning("careful")
    print_error("broken")
    out, err = capsys.readouterr()
    assert "[radas] hello" in out and "[radas warning] careful" in out and "[radas error] broken" in err


def test_reduce_by_config_cols_gives_one_row_per_group():
    df = reduce_by_config_cols(DF, "score", lambda s: s.mean(), ["config/lr"])
    assert df.to_dict("list") == {"config/lr": [0.1, 0.2], "score": [2.0, 6.0]}


def test_reduce_by_reduced_col_groups_by_the_other_config_cols():
    df = reduce_by_reduced_col(DF, "score", lambda s: s.max(), "config/seed")
    assert df.to_dict("list") == {"config/lr": [0.1, 0.2], "config/wd": [0, 0], "score": [3.0, 7.0]}


def test_reduce_names_missing_columns():
    with pytest.raises(radas.RadasValueError, match="config/momentum"):
        reduce_by_config_cols(DF, "score", np.mean, ["config/momentum"])


def test_explode_list_columns_with_index():
    df = pd.DataFrame({"trial": ["a", "b"], "loss": [[3, 2, 1], [5, 4, 3]], "acc": [[0.1, 0.2, 0.3], [0, 0, 1]]})
    out = radas.explode(df, ["loss", "acc"], index_col="step")
    assert len(out) == 6 and list(out["step"]) == [0, 1, 2, 0, 1, 2]
    assert list(out.loc[out["trial"] == "b", "loss"]) == [5, 4, 3]


def test_explode_tensor_numpy_and_torch():
    out = radas.explode_tensor(np.arange(6).reshape(2, 3), axis_names=["row", "col"])
    assert list(out.columns) == ["row", "col", "value"] and out.loc[5].tolist() == [1, 2, 5]
    out = radas.explode_tensor(torch.ones(2, 2, 2))
    assert list(out.columns) == ["dim0", "dim1", "dim2", "value"] and len(out) == 8
    with pytest.raises(radas.RadasValueError, match="3 axes"):
        radas.explode_tensor(np.zeros((1, 1, 1)), axis_names=["a"])


def test_explode_dict_of_tensors():
    out = radas.explode_dict_of_tensors({"w": torch.zeros(2, 3), "b": np.ones(3)[None, :]}, axis_names=["i", "j"])
    assert len(out) == 9 and set(out["name"]) == {"w", "b"}
