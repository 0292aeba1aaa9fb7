"""What a GRPO trial lets go of when it ends, and the one thing trials sharing a GPU must not do
at the same time (start vLLM).

Ray Tune runs trial after trial in one worker process (``reuse_actors``), and several trials share
a GPU (``gpu_per_trial="auto"``). So a trial that ends — finished, failed or stopped — frees the
GPU memory it held (the trainer, the model, vLLM's engine, the allocator's cache) and puts back
the distributed-training variables TRL set for it; and trials on one GPU start vLLM one at a time:
vLLM sizes its KV cache from the GPU memory it finds free while it profiles, which a neighbour
that is loading or waking up at that moment changes under it.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

logger = logging.getLogger("radas")
T = TypeVar("T")

# the variables TRL (and vLLM's colocate mode) set for torch.distributed in the trial's process
DISTRIBUTED_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# how long a trial waits for its GPU's neighbours to finish starting vLLM
INIT_LOCK_WAIT_S = 1800.0


def restore_env(saved: Mapping[str, str | None]) -> None:
    """Put the variables back as they were before the trial (removed when they were not set)."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def release(trainer: Any) -> None:
    """Free what a finished trial's trainer holds: vLLM's engine (shut down), the distributed
    process group, the model and optimizer (collected) and the CUDA allocator's cache. Each step
    is best effort: a trial that failed half-way has some of these and not others."""
    llm = getattr(getattr(trainer, "vllm_generation", None), "llm", None)
    if llm is not None:
        with contextlib.suppress(Exception):
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

            del trainer.vllm_generation.llm
            del llm
            cleanup_dist_env_and_memory()
    with contextlib.suppress(Exception):
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if trainer is not None:
        with contextlib.suppress(Exception):
            trainer.accelerator.free_memory()
    del trainer
    gc.collect()
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _gpu_key() -> str:
    """This trial's GPU, the same name for every process that shares it."""
    with contextlib.suppress(Exception):
        import torch

        return str(torch.cuda.get_device_properties(torch.cuda.current_device()).uuid)
    return os.environ.get("CUDA_VISIBLE_DEVICES", "0")


@contextlib.contextmanager
def gpu_init_lock() -> Iterator[None]:
    """Held while this trial starts vLLM: one trial per GPU at a time (a file lock on the node)."""
    path = os.path.join(tempfile.gettempdir(), f"radas-vllm-init-{_gpu_key()}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + INIT_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another trial on this GPU held {path} for {INIT_LOCK_WAIT_S:g} s") from None
                time.sleep(1.0)
        yield
    finally:
        os.close(fd)


def _profiling_failed(exc: BaseException) -> bool:
    """vLLM's own complaint when the free memory changed while it measured it."""
    text = str(exc).lower()
    return isinstance(exc, (AssertionError, RuntimeError, ValueError)) and (
        "profil" in text or "memory usage increased" in text or "free memory" in text)


def build_one_at_a_time(build: Callable[[], T]) -> T:
    """``build()`` (the trainer, which starts vLLM) while no other trial on this GPU starts vLLM;
    once more, after a pause, when vLLM's memory profiling failed because a neighbour's memory
    changed meanwhile."""
    with gpu_init_lock():
        try:
            return build()
        except Exception as exc:
            if not _profiling_failed(exc):
                raise
            logger.warning("radas.grpo: vLLM's memory profiling failed (%s); starting it once more", exc)
        gc.collect()
        time.sleep(5.0)
        return build()
