"""Optional dependencies, imported when a feature needs them, with one install line each.

Every optional import of radas goes through :func:`require` (or, where a library raises the
``ImportError`` itself, :func:`missing`), so the message and the ``pip install`` line are said
in one place: which feature needs what, and the radas extra that brings it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from radas.errors import MissingDependencyError

# the radas extra that installs a module (pyproject.toml's [project.optional-dependencies])
EXTRAS: dict[str, str] = {
    "yagmail": "email", "wandb": "wandb", "swanlab": "swanlab", "s3fs": "s3",
    **{m: "grpo" for m in ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "tokenizers")},
}
# the package to install where its name differs from the module's, or no extra brings it
PACKAGES: dict[str, str] = {"gcsfs": "gcsfs", "adlfs": "adlfs", "paramiko": "paramiko", "pyarrow": "pyarrow",
                            "vllm": "vllm"}


def install_line(module_name: str) -> str:
    """``pip install "radas[<extra>]"`` for a module an extra brings, else ``pip install <package>``."""
    top = module_name.split(".")[0]
    extra = EXTRAS.get(top)
    return f'pip install "radas[{extra}]"' if extra else f"pip install {PACKAGES.get(top, top)}"


def missing(module_name: str, feature: str, exc: ImportError | None = None, also: str = "") -> MissingDependencyError:
    """The error for ``feature`` when ``module_name`` is not installed (raise it ``from exc``);
    ``also``: what else the user may do, said after the install line."""
    detail = f" ({exc})" if exc is not None and str(exc) else ""
    return MissingDependencyError(
        f"{feature} needs {module_name.split('.')[0]!r}, which is not installed{detail}: "
        f"{install_line(module_name)}" + (f"; {also}" if also else "")
    )


def require(module_name: str, feature: str) -> ModuleType:
    """Import ``module_name`` for ``feature``, or raise :class:`~radas.errors.MissingDependencyError`
    naming the feature and the install line."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise missing(module_name, feature, exc) from exc
