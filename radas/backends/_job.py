"""The job-side entry point of a cluster sweep: ``python -m radas.backends._job <package>``.

``<package>`` is the small module the client shipped with the job (``py_modules``): the
pickled :class:`SweepSpec` and the client's Python / Ray versions. The job's driver runs the sweep
as a local one does (:class:`radas.sweep._sweep.Sweep`) on the cluster's Ray (``RAY_ADDRESS``
is set by Ray Jobs), so the lock, progress and stop-request files are the same as on a laptop.
SIGTERM (Ray's ``stop_job``) stops Tune gracefully, as a stop request does.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

# the wire between the client (radas.backends.cluster) and this entry point, defined once
RESULT_MARKER = "RADAS_JOB_RESULT "  # the job's last line: its outcome as JSON
SPEC_FILE = "spec.pkl"  # in the shipped package: the pickled SweepSpec
META_FILE = "meta.json"  # in the shipped package: job id, the client's Python / Ray, restore or not
EXIT_VERSION_MISMATCH = 3


def check_versions(meta: dict[str, Any]) -> str | None:
    """Why this job cannot run the client's sweep (a Python or Ray version other than the
    client's), or None."""
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


def main(argv: list[str] | None = None) -> int:
    """Run the shipped sweep; prints its outcome on the last line for the client."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m radas.backends._job <package shipped with the job>", file=sys.stderr)
        return 2
    folder = Path(importlib.import_module(argv[0]).__file__ or "").parent
    meta = json.loads((folder / META_FILE).read_text())
    problem = check_versions(meta)
    if problem:
        print(f"[radas error] {problem}", file=sys.stderr, flush=True)
        return EXIT_VERSION_MISMATCH

    from ray import cloudpickle

    from radas.backends.local import LocalBackend
    from radas.sweep import Sweep, ensure_ray, request_stop

    spec = cloudpickle.loads((folder / SPEC_FILE).read_bytes())
    ensure_ray(os.environ.get("RAY_ADDRESS", "auto"))
    sweep = Sweep(spec, LocalBackend().folder(spec), restore=bool(meta.get("restore")), job_id=meta.get("job_id", ""))
    signal.signal(signal.SIGTERM, lambda signum, frame: request_stop(sweep.folder))
    stopped = asyncio.run(sweep.run())
    print(RESULT_MARKER + json.dumps({"stopped": bool(stopped)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
