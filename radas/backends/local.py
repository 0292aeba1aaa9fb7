"""Sweeps on this machine's Ray (started on demand), with Tune's ``fit`` off the event loop.

Another process (or another host sharing the results folder) can follow a running sweep
(``attach``) or ask it to stop (``stop``) through the experiment-folder protocol.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray

from radas._reporter import ProgressBar, say
from radas.backends._base import Backend
from radas.core import LAUNCH_DIR_ENV, get_ray_results_dir, radas_env
from radas.errors import ExperimentFailedError
from radas.sweep import Capacity, ExperimentFolder, ExperimentState, Sweep, SweepSpec, Tuner, ensure_ray, request_stop

# how long a stop request may take to end a sweep before radas says so instead of waiting on
STOP_TIMEOUT_S = float(os.environ.get("RADAS_STOP_TIMEOUT_S", "300"))


class LocalBackend(Backend):
    """Runs sweeps on the Ray of this machine."""

    target = "local"

    def user_root(self, user_name: str) -> Path:
        """``<results dir>/<user>``."""
        return Path(get_ray_results_dir(user_name))

    # ---- preparing ------------------------------------------------------------------------
    async def capacity(self) -> Capacity:
        """The largest alive node of this process's Ray (started if needed)."""
        ensure_ray()  # in the main thread, once (see ensure_ray)
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        return Capacity(cpu=max((n.get("CPU", 0.0) for n in nodes), default=0.0),
                        gpu=max((n.get("GPU", 0.0) for n in nodes), default=0.0),
                        source="this machine's Ray")

    async def gpu_memory_gib(self) -> float | None:
        """The memory of this machine's first GPU (None without one, or without torch)."""
        def read() -> float | None:
            try:
                import torch
            except ImportError:
                return None
            if not torch.cuda.is_available():
                return None
            return torch.cuda.get_device_properties(0).total_memory / 1024**3

        return await asyncio.to_thread(read)

    def trial_runtime_env(self, runtime_env: Mapping[str, Any]) -> dict[str, Any]:
        """The user's runtime_env for each trial (``excludes`` only concerns uploads of a
        cluster job's working dir; relative ``py_modules`` are this folder's), with radas's
        folders and the launch folder in ``env_vars``."""
        env = {k: v for k, v in runtime_env.items() if k != "excludes"}
        if "py_modules" in env:
            env["py_modules"] = [os.path.abspath(m) if isinstance(m, str) and "://" not in m else m
                                 for m in env["py_modules"]]
        env["env_vars"] = {**radas_env(), LAUNCH_DIR_ENV: os.getcwd(),
                           **{str(k): str(v) for k, v in (runtime_env.get("env_vars") or {}).items()}}
        return env

    # ---- running --------------------------------------------------------------------------
    async def locate(self, spec: SweepSpec) -> ExperimentState:
        """Results exist when the folder has Tune's state; running while a driver holds the lock."""
        folder = self.folder(spec)
        holder = await asyncio.to_thread(folder.holder)
        return ExperimentState(
            path=folder.path,
            exists=await asyncio.to_thread(folder.has_results),
            restorable=await asyncio.to_thread(Tuner.can_restore, str(folder.path)),
            running=holder is not None,
            running_detail=holder.describe() if holder else "",
            ended_badly="" if holder else folder.ended_badly(folder.progress()),
        )

    async def run(self, spec: SweepSpec, restore: bool, secrets: Mapping[str, str]) -> bool:
        """Run the sweep in a worker thread of this process, showing progress."""
        ensure_ray()  # in the main thread, once (see ensure_ray)
        return await Sweep(spec, self.folder(spec), restore).run(secrets)

    async def attach(self, spec: SweepSpec) -> None:
        """Follow the sweep's driver (any process) until it is done."""
        await _follow_to_end(self.folder(spec), timeout=None)

    async def stop(self, spec: SweepSpec) -> None:
        """Ask the running sweep to stop (state saved) and wait until its driver is done."""
        folder = self.folder(spec)
        request_stop(folder)
        say("info", f"asked the running sweep of {spec.experiment_name!r} to stop; waiting for it")
        await _follow_to_end(folder, timeout=STOP_TIMEOUT_S)


async def _follow_to_end(folder: ExperimentFolder, timeout: float | None) -> None:
    """Show the driver's progress until it lets go of the lock; an error when it died or failed."""
    line = ProgressBar(folder.name)
    try:
        progress = await folder.follow(lambda p: p.show(line), timeout=timeout)
    finally:
        line.close()
    problem = folder.ended_badly(progress)
    if problem:
        raise ExperimentFailedError(
            f"{problem}. Its results so far are at {folder.path}: see them with dos=['analyze'], "
            "continue the sweep with run_choice='restore'"
        )
