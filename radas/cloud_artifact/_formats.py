"""How an artifact is turned into bytes and back, chosen by the file extension."""

from __future__ import annotations

import io
import json
import pickle
import posixpath
from typing import Any

from radas._deps import missing, require
from radas.errors import RadasTypeError, RadasValueError

FORMATS = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".json": "json",
    ".npy": "numpy",
    ".pt": "torch",
    ".pth": "torch",
    ".parquet": "parquet",
    ".csv": "csv",
    ".txt": "text",
}


def format_of(path: str) -> str:
    """The format name for ``path`` (``"bytes"`` for an unknown extension)."""
    return FORMATS.get(posixpath.splitext(path)[1].lower(), "bytes")


def _dataframe(path: str, obj: Any) -> Any:
    import pandas as pd

    if not isinstance(obj, pd.DataFrame):
        raise RadasTypeError(
            f"{path!r}: a {posixpath.splitext(path)[1]} artifact must be a pandas DataFrame, got "
            f"{type(obj).__name__}; use a .pkl path for other objects"
        )
    return obj


def _torch() -> Any:
    return require("torch", "saving or loading .pt artifacts")


def dumps(path: str, obj: Any) -> bytes:
    """Serialize ``obj`` in the format of ``path``'s extension."""
    kind = format_of(path)
    if kind == "pickle":
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    if kind == "json":
        try:
            return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=True).encode("utf-8")
        except TypeError as exc:
            raise RadasTypeError(f"{path!r}: {exc}; use a .pkl path for objects JSON cannot hold") from exc
    if kind == "numpy":
        import numpy as np

        buffer = io.BytesIO()
        try:
            np.save(buffer, np.asarray(obj), allow_pickle=False)
        except ValueError as exc:
            raise RadasValueError(f"{path!r}: {exc}; use a .pkl path for arrays of Python objects") from exc
        return buffer.getvalue()
    if kind == "torch":
        buffer = io.BytesIO()
        _torch().save(obj, buffer)
        return buffer.getvalue()
    if kind == "parquet":
        buffer = io.BytesIO()
        try:
            _dataframe(path, obj).to_parquet(buffer)
        except ImportError as exc:
            raise missing("pyarrow", ".parquet artifacts", exc) from exc
        return buffer.getvalue()
    if kind == "csv":
        return _dataframe(path, obj).to_csv(index=False).encode("utf-8")
    if kind == "text":
        if not isinstance(obj, str):
            raise RadasTypeError(f"{path!r}: a .txt artifact must be a str, got {type(obj).__name__}")
        return obj.encode("utf-8")
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    raise RadasTypeError(
        f"{path!r}: artifacts with this extension are stored as raw bytes, got {type(obj).__name__}; "
        f"give bytes, or use one of the extensions {sorted(FORMATS)} (e.g. .pkl for any Python object)"
    )


def loads(path: str, data: bytes) -> Any:
    """The object stored as ``data`` in the format of ``path``'s extension."""
    kind = format_of(path)
    if kind == "pickle":
        return pickle.loads(data)
    if kind == "json":
        return json.loads(data.decode("utf-8"))
    if kind == "numpy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "torch":
        torch = _torch()
        map_location = None if torch.cuda.is_available() else "cpu"
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)
    if kind == "parquet":
        import pandas as pd

        try:
            return pd.read_parquet(io.BytesIO(data))
        except ImportError as exc:
            raise missing("pyarrow", ".parquet artifacts", exc) from exc
    if kind == "csv":
        import pandas as pd

        return pd.read_csv(io.BytesIO(data))
    if kind == "text":
        return data.decode("utf-8")
    return data
