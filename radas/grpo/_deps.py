"""Lazy imports of the heavy GRPO dependencies (torch, transformers, TRL, ...), through
:func:`radas._deps.require`: the install line is the GRPO extra's."""

from __future__ import annotations

from types import ModuleType

from radas import _deps


def require(module_name: str, feature: str = "radas.grpo") -> ModuleType:
    """Import ``module_name`` or raise :class:`~radas.errors.MissingDependencyError` with the install line."""
    return _deps.require(module_name, feature)
