"""Lazy imports of the heavy GRPO dependencies, with the ``pip install`` hint on failure."""

from __future__ import annotations

import importlib
from types import ModuleType

from radas.errors import MissingDependencyError

GRPO_EXTRA_HINT = 'pip install "radas[grpo]"'

_PIP_NAMES = {
    "torch": "torch",
    "transformers": "transformers",
    "trl": "trl",
    "datasets": "datasets",
    "accelerate": "accelerate",
    "peft": "peft",
    "tokenizers": "tokenizers",
}


def require(module_name: str, feature: str = "radas.grpo") -> ModuleType:
    """Import ``module_name`` or raise :class:`MissingDependencyError` with the install line."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        top = module_name.split(".")[0]
        raise MissingDependencyError(
            f"{feature} needs the optional dependency {_PIP_NAMES.get(top, top)!r}, which is not "
            f"installed ({exc}). Install the GRPO extra: {GRPO_EXTRA_HINT}"
        ) from exc
