"""Checks for names that become folder names (user and experiment names)."""

from __future__ import annotations

import re

from radas.errors import RadasTypeError, RadasValueError

_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=,-]*$")
# what radas names its own files and folders in a user's results folder, next to the experiments
# (radas.sweep._folder: the index page, the lock, secrets and archive folders): no name may be one,
# in any case (a case-insensitive filesystem takes Radas-Index.html for the index page)
RESERVED = ("radas-index.html", ".radas-locks", ".radas-secrets", ".archive")
_RESERVED = frozenset(name.casefold() for name in RESERVED)


def check_name(param: str, value: object) -> str:
    """Return ``value`` if it is safe as a single folder name, else raise naming ``param``."""
    if not isinstance(value, str):
        raise RadasTypeError(f"{param} must be a str, got {type(value).__name__} {value!r}")
    if not value or len(value) > 200 or ".." in value or not _VALID.fullmatch(value):
        raise RadasValueError(
            f"{param}={value!r} cannot be used as a folder name: use letters, digits and "
            "'._@+=,-' (starting with a letter or digit), no '/', no '..', at most 200 characters"
        )
    if value.casefold() in _RESERVED:
        raise RadasValueError(
            f"{param}={value!r} is a name radas gives its own files in a user's results folder "
            f"({', '.join(RESERVED)}): an experiment of that name would collide with them; pick another name"
        )
    return value
