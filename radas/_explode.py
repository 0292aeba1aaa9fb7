"""Long-format helpers: list columns, arrays and tensors to tidy DataFrames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from radas.errors import RadasTypeError, RadasValueError


def explode(
    df: pd.DataFrame, columns: str | Sequence[str], index_col: str | None = None
) -> pd.DataFrame:
    """Turn list-valued ``columns`` into one row per element.

    Several columns are exploded together (their lists must have equal lengths per row).
    With ``index_col``, a column of that name holds each element's position in its list,
    e.g. the training step of a per-step metric list.
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise RadasValueError(
            f"explode columns {missing} are not in the DataFrame; available: {list(df.columns)}"
        )
    out = df.copy()
    for col in cols:
        out[col] = out[col].map(_as_list)
    if index_col is not None:
        out[index_col] = out[cols[0]].map(lambda values: list(range(len(values))))
        cols = [*cols, index_col]
    try:
        exploded = out.explode(cols, ignore_index=True)
    except ValueError as exc:
        raise RadasValueError(
            f"explode: the lists in columns {cols} have different lengths in some row ({exc})"
        ) from exc
    return exploded.infer_objects()


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "tolist") and hasattr(value, "shape"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _to_numpy(tensor: Any) -> np.ndarray:
    if isinstance(tensor, np.ndarray):
        return tensor
    if type(tensor).__module__.startswith("torch"):
        return tensor.detach().cpu().numpy()
    if isinstance(tensor, (list, tuple, int, float)):
        return np.asarray(tensor)
    raise RadasTypeError(
        f"explode_tensor needs a numpy array or torch tensor, got {type(tensor).__name__}"
    )


def explode_tensor(
    tensor: Any, axis_names: Sequence[str] | None = None, value_name: str = "value"
) -> pd.DataFrame:
    """A long DataFrame of ``tensor``: one column per axis (the index) and a value column.

    ``axis_names`` default to ``dim0, dim1, ...``. Works for numpy arrays and torch tensors.
    """
    array = _to_numpy(tensor)
    names = list(axis_names) if axis_names is not None else [f"dim{i}" for i in range(array.ndim)]
    if len(names) != array.ndim:
        raise RadasValueError(
            f"axis_names={names} has {len(names)} names but the tensor has {array.ndim} axes "
            f"(shape {array.shape})"
        )
    index = np.indices(array.shape).reshape(array.ndim, -1)
    data = {name: index[i] for i, name in enumerate(names)}
    data[value_name] = array.reshape(-1)
    return pd.DataFrame(data)


def explode_dict_of_tensors(
    tensors: Mapping[str, Any],
    axis_names: Sequence[str] | None = None,
    key_name: str = "name",
    value_name: str = "value",
) -> pd.DataFrame:
    """:func:`explode_tensor` for each tensor of a dict, stacked with a ``key_name`` column."""
    if not isinstance(tensors, Mapping):
        raise RadasTypeError(
            f"explode_dict_of_tensors needs a dict of tensors, got {type(tensors).__name__}"
        )
    frames = []
    for key, tensor in tensors.items():
        frame = explode_tensor(tensor, axis_names=axis_names, value_name=value_name)
        frame.insert(0, key_name, key)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[key_name, value_name])
    return pd.concat(frames, ignore_index=True)
