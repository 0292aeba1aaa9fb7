"""The job-side entry point of a cluster sweep: ``python -m radas.backends._job <package>``.

``<package>`` is the small module the client shipped with the job (``py_modules``): the
pickled :class:`SweepSpec` and the client's Python / Ray versions. The sweep runs with the
local backend's code on the cluster's Ray (``RAY_ADDRESS`` is set by Ray Jobs), so the driver
lock, progress and stop-request files are the same as on a laptop. SIGTERM (Ray's
``stop_job``) stops Tune gracefully, as the stop-request file does.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

RESULT_MARKER = "RADAS_JOB_RESULT "
EXIT_VERSION_MISMATCH = 3


def _check_versions(meta: dict[str, Any]) -> str | None:
    import ray

    python = tuple(meta.get("python", ()))
    if python and python != tuple(sys.version_info[:2]):
        return (f"Python version mismatch: the client runs Python {'.'.join(map(str, python))}, this "
                f"cluster's job runs Python {sys.version_info[0]}.{sys.version_info[1]}; the trainable "
                "is pickled by value and needs the same Python. Use a client with the cluster's Python "
                "(or a runtime_env conda/image with the client's)")
    if meta.get("ray") and meta["ray"] != ray.__version__:
        return (f"Ray version mismatch: the client runs ray {meta['ray']}, this cluster runs ray "
                f"{ray.__version__}; install ray=={ray.__version__} on the client")
    return None


def _connect() -> None:
    """Connect to the cluster's Ray as the job's driver. ``ensure_ray`` would pass radas's
    folder variables as a runtime_env again, which Ray refuses to merge with the job's own
    (same keys): the job's runtime_env already carries them to every trial."""
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), log_to_driver=False,
                 logging_level=logging.WARNING)
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)


def _on_sigterm(path: Path) -> None:
    """SIGTERM (``stop_job``): stop Tune gracefully, as a stop request does."""
    from radas._progress import STOP_FILE
    from radas.backends import local

    def handler(signum: int, frame: Any) -> None:
        live = local._live.get(str(path))
        if live is not None:
            live.stop_event.set()
        try:
            (path / STOP_FILE).touch()
        except OSError:
            pass

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m radas.backends._job <package shipped with the job>", file=sys.stderr)
        return 2
    folder = Path(importlib.import_module(argv[0]).__file__ or "").parent
    meta = json.loads((folder / "meta.json").read_text())
    problem = _check_versions(meta)
    if problem:
        print(f"[radas error] {problem}", file=sys.stderr, flush=True)
        return EXIT_VERSION_MISMATCH

    from ray import cloudpickle

    from radas.backends.local import LocalBackend

    spec = cloudpickle.loads((folder / "spec.pkl").read_bytes())
    _connect()
    backend = LocalBackend()
    _on_sigterm(backend.experiment_path(spec))
    stopped = asyncio.run(backend.run(spec, restore=bool(meta.get("restore"))))
    print(RESULT_MARKER + json.dumps({"stopped": bool(stopped)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
