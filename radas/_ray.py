"""Every use of Ray's private or developer internals, in one place.

radas needs a few things Ray Tune has no public API for. They live here, and nowhere else:

* two patches, applied by :func:`install` when radas starts (or connects to) Ray — never at
  ``import radas``:

  - Tune ends a run gracefully (experiment state saved, unfinished trials left to ``restore``)
    when its "interrupted" event is set, normally by SIGINT, which only reaches the main thread.
    radas runs ``Tuner.fit`` in a worker thread, so it hands Tune an event of its own for that
    thread (:func:`interruptible`);
  - Tune creates the actor class of a trainable in one place (``_ActorClassCache.get``); radas
    merges the sweep's runtime_env for trials into it (:data:`RUNTIME_ENV_ATTR`), so variables
    are set before the trial's process imports anything and packages are installed by Ray's own
    runtime_env machinery. Tune also copies the driver's AWS keys into that runtime_env (its
    ``ENV_VARS_TO_PROPAGATE``), where Ray's State API and dashboard show them: radas's trials get
    secret-looking ones through the sweep's secrets channel instead (:func:`secrets_through`);

* one patch applied when a sweep starts, if its module is imported (it imports wandb, seconds):
  Ray's ``WandbLoggerCallback`` copies ``WANDB_API_KEY`` from the driver's environment into its
  logging actor's runtime_env; under :func:`secrets_through` the actor gets it through the
  channel instead;

* Tune's TensorBoard logger flushes a trial's event file after every result (a millisecond or
  more each, on the thread that runs the whole sweep: a quarter of its work in a sweep of
  trivial trials); :func:`with_tensorboard_logger` adds the same logger flushing each trial's
  file at most every :data:`TENSORBOARD_FLUSH_S` seconds;

* accessors of private attributes (the experiment analysis behind a ``ResultGrid``, a Tuner's
  run config, a trial's pickled error, the verbosity a ``RunConfig`` was given, ...), a
  per-trial wrapper of the session's ``report`` (:func:`reports_transformed`), the in-process
  backend's ``tune.report`` (:func:`reports_to`), and a Jobs API client whose requests time
  out (:func:`jobs_sdk`).

It sits in radas's base layer, so the cluster client (``radas.clusters``) and the backends
both use it, and nothing else touches Ray's internals.

Ray's version is checked first, against :data:`SUPPORTED_RAY` (the same bounds as
``pyproject.toml``): a Ray release that renamed one of these would otherwise fail deep inside a
sweep. A version outside the range is a clear error naming the supported range.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import ray

from radas.errors import VersionMismatchError

# the Ray releases radas is tested with: >= the first, < the second (pyproject.toml says the same)
SUPPORTED_RAY: tuple[str, str] = ("2.60", "2.61")
# set on prepared trainable classes: the runtime_env their trial actors get
RUNTIME_ENV_ATTR = "_radas_runtime_env"
# Ray's W&B logger callback, patched when a sweep starts once something has imported it
_WANDB_MODULE = "ray.air.integrations.wandb"
# Ray Train's controller takes a worker's report, and sees its workers start and end, when it
# polls them: every this many seconds (Ray's default 2 s)
TRAIN_POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
TRAIN_POLL_S = 0.5
# a trial's TensorBoard event file is flushed at most every this many seconds (and at its end)
TENSORBOARD_FLUSH_S = 1.0

_installed = False
_wandb_patched = False
_install_guard = threading.Lock()
_local = threading.local()


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def supported(version: str) -> bool:
    """True when Ray ``version`` is within :data:`SUPPORTED_RAY`."""
    low, high = (_version_tuple(v) for v in SUPPORTED_RAY)
    return low <= _version_tuple(version) < high


def check_version(version: str | None = None) -> None:
    """A :class:`~radas.errors.VersionMismatchError` when Ray (``version``, default the installed
    one) is outside :data:`SUPPORTED_RAY`."""
    version = version or ray.__version__
    if not supported(version):
        low, high = SUPPORTED_RAY
        raise VersionMismatchError(
            f"radas supports ray>={low},<{high}; this environment has ray {version}. Install a supported "
            f"Ray (pip install 'ray[default,tune]>={low},<{high}') or a radas release made for ray {version}"
        )


def install() -> None:
    """Check Ray's version and apply radas's two patches (once per process)."""
    global _installed
    with _install_guard:
        if _installed:
            return
        check_version()
        from ray.tune import tune as tune_module
        from ray.tune.execution import class_cache

        original_setup = tune_module._setup_signal_catching
        original_get: Any = class_cache._ActorClassCache.get

        def setup_signal_catching() -> threading.Event:
            event = getattr(_local, "event", None)
            return event if event is not None else original_setup()

        def get(self: Any, trainable_cls: Any) -> Any:
            extra = getattr(trainable_cls, RUNTIME_ENV_ATTR, None)
            if extra is None:  # not a radas sweep's trainable
                return original_get(self, trainable_cls)
            if trainable_cls not in self._cache:
                propagated = {k: os.environ[k] for k in class_cache.ENV_VARS_TO_PROPAGATE if k in os.environ}
                channel = getattr(_local, "secrets", None)
                secret = {k: v for k, v in propagated.items() if channel is not None and channel.is_secret(k, v)}
                env_vars = dict(class_cache.DEFAULT_ENV_VARS)
                # the Ray the trial runs on, for Ray's own address lookups in it (its State API, as
                # Ray Train's placement-group cleaner uses): right even where one machine runs several Rays
                env_vars["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
                env_vars.update({k: v for k, v in propagated.items() if k not in secret})
                env_vars.update(extra.get("env_vars") or {})
                actor_cls = loading_first(trainable_cls, channel.keep(secret)) if channel and secret else trainable_cls
                remote: Any = ray.remote(runtime_env=_uploaded({**extra, "env_vars": env_vars}))
                self._cache[trainable_cls] = remote(actor_cls)
            return self._cache[trainable_cls]

        tune_module._setup_signal_catching = setup_signal_catching
        class_cache._ActorClassCache.get = get  # type: ignore[method-assign]
        _installed = True


def installed() -> bool:
    """True once :func:`install` has patched Ray in this process."""
    return _installed


class SecretsChannel(Protocol):
    """How the sweep a thread drives hands secrets to the actors Ray starts for it, instead of
    through their runtime_env (which Ray's State API, dashboard and logs show)."""

    def is_secret(self, name: str, value: str) -> bool:
        """Whether the environment variable ``name`` = ``value`` is a secret."""

    def keep(self, secrets: Mapping[str, str]) -> Callable[[], None]:
        """Keep ``secrets`` for actors; returns what an actor calls first (picklable; it holds
        no value) to have exactly these in its environment."""


@contextlib.contextmanager
def secrets_through(channel: SecretsChannel) -> Iterator[None]:
    """Within this block, actors a Tune run of this thread starts get the secrets Ray would put
    into their runtime_env through ``channel`` instead: a trial's copy of the driver's AWS keys,
    the W&B key of Ray's ``WandbLoggerCallback`` logging actor (needs :func:`install`)."""
    _patch_wandb_callback()
    _local.secrets = channel
    try:
        yield
    finally:
        _local.secrets = None


def quick_train_reports() -> None:
    """In a trial: Ray Train runs this process starts (a trial that drives a ``TorchTrainer``)
    poll their workers every :data:`TRAIN_POLL_S` seconds rather than Ray's 2 s, unless the
    trial's environment sets :data:`TRAIN_POLL_ENV`. A worker's ``ray.train.report`` waits while
    its previous report is not taken yet, so reports less than 2 s apart (fast steps, a checkpoint
    followed by the final report) waited up to 2 s each, and so did the run's end. Ray Train hands
    the variable on to its controller and workers; each poll is one call per worker."""
    os.environ.setdefault(TRAIN_POLL_ENV, str(TRAIN_POLL_S))


def loading_first(cls: type, load: Callable[[], None]) -> type:
    """A subclass of actor class ``cls`` whose instances call ``load`` before anything else."""

    class Loading(cls):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            load()
            super().__init__(*args, **kwargs)

    Loading.__name__, Loading.__qualname__, Loading.__module__ = cls.__name__, cls.__qualname__, cls.__module__
    return Loading


def _patch_wandb_callback() -> None:
    """Once its module is imported: Ray's ``WandbLoggerCallback`` starts its logging actors with
    no ``WANDB_API_KEY`` in their runtime_env; under :func:`secrets_through`, they load it through
    the channel (Ray's own options otherwise: no CPU, on the driver's node, restarted forever)."""
    global _wandb_patched
    module = sys.modules.get(_WANDB_MODULE)
    if module is None:
        return
    with _install_guard:
        if _wandb_patched:
            return
        callback = module.WandbLoggerCallback
        original_start = callback._start_logging_actor

        def start_logging_actor(self: Any, trial: Any, exclude_results: Any, **init_kwargs: Any) -> Any:
            channel = getattr(_local, "secrets", None)
            if self._remote_logger_class is None and channel is not None:
                actor_cls = self._logger_actor_cls
                key = os.environ.get(module.WANDB_ENV_VAR)
                if key:
                    actor_cls = loading_first(actor_cls, channel.keep({module.WANDB_ENV_VAR: key}))
                self._remote_logger_class = ray.remote(num_cpus=0, **module._force_on_current_node(),
                                                       max_restarts=-1, max_task_retries=-1)(actor_cls)
            return original_start(self, trial, exclude_results, **init_kwargs)

        callback._start_logging_actor = start_logging_actor
        _wandb_patched = True


class _SeldomFlushed:
    """A trial's ``SummaryWriter``, whose ``flush`` writes at most every
    :data:`TENSORBOARD_FLUSH_S` seconds; one put off is done by :meth:`flush_due` (``close``
    still writes everything)."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self._flushed = time.monotonic()
        self._pending = False

    def __getattr__(self, name: str) -> Any:
        if name == "_writer":  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self._writer, name)

    def flush(self) -> None:
        self._pending = True
        self.flush_due()

    def flush_due(self) -> None:
        """Flush what a :meth:`flush` put off, once :data:`TENSORBOARD_FLUSH_S` have passed."""
        if self._pending and time.monotonic() - self._flushed >= TENSORBOARD_FLUSH_S:
            self._pending = False  # a flush that fails is said once, as Tune's own would be
            self._writer.flush()
            self._flushed = time.monotonic()


def _users_tensorboard_logger(callbacks: list[Any]) -> bool:
    """Whether Tune will run a TensorBoard logger of the user's: in the run's callbacks or
    named by ``RAY_TUNE_CALLBACKS`` (one that cannot be imported is Tune's error to give)."""
    import importlib

    from ray.tune.constants import RAY_TUNE_CALLBACKS_ENV_VAR
    from ray.tune.logger import TBXLoggerCallback

    if any(isinstance(c, TBXLoggerCallback) for c in callbacks):
        return True
    for path in os.environ.get(RAY_TUNE_CALLBACKS_ENV_VAR, "").split(","):
        module, _, name = path.strip().rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name) if module else None
        except (ImportError, AttributeError, ValueError):
            continue
        if isinstance(cls, type) and issubclass(cls, TBXLoggerCallback):
            return True
    return False


def with_tensorboard_logger(callbacks: list[Any] | None) -> list[Any]:
    """A run's ``callbacks`` with Tune's TensorBoard logger flushing each trial's events at most
    every :data:`TENSORBOARD_FLUSH_S` s (Tune's flushes after every result), where Tune would
    add its own: not with a TensorBoard logger of the user's, ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``
    or no tensorboardX. A sweep's saved state keeps it as an inert ``Callback`` marked
    :data:`_SAVED_LOGGER_MARK` (a radas without it restores the sweep); those are dropped here."""
    kept = [c for c in callbacks or [] if not getattr(c, _SAVED_LOGGER_MARK, False)]
    if os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0") == "1" or _users_tensorboard_logger(kept):
        return kept
    try:
        return [*kept, _tensorboard_logger_class()()]
    except ImportError:  # no tensorboardX: Tune says so itself
        return kept


# set on the plain ``Callback`` radas's TensorBoard logger is saved as
_SAVED_LOGGER_MARK = "_radas_tensorboard_logger"


@functools.cache
def _tensorboard_logger_class() -> type:
    from ray.tune import Callback
    from ray.tune.logger import TBXLoggerCallback

    class TensorBoardLogger(TBXLoggerCallback):
        def log_trial_start(self, trial: Any) -> None:
            super().log_trial_start(trial)
            self._trial_writer[trial] = _SeldomFlushed(self._trial_writer[trial])

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            super().on_step_end(iteration, trials, **info)
            event = getattr(_local, "event", None)
            if event is not None and event.is_set():  # the run stops after this step: Tune copies
                self._close_all()  # the trials' files to the storage path before it ends
                return
            for writer in list(self._trial_writer.values()):
                writer.flush_due()

        def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
            super().on_experiment_end(trials, **info)
            self._close_all()

        def _close_all(self) -> None:
            """Close every trial's file: a sweep stopped with trials running ends none of them, and
            a flush writes only what tensorboardX's thread has taken from its queue (a close all)."""
            for trial, writer in list(self._trial_writer.items()):
                del self._trial_writer[trial]
                self._trial_result.pop(trial, None)
                writer.close()

        def __reduce__(self) -> tuple[Any, ...]:
            return Callback, (), {_SAVED_LOGGER_MARK: True}

    return TensorBoardLogger


def _uploaded(runtime_env: dict[str, Any]) -> dict[str, Any]:
    """``runtime_env`` with local ``py_modules`` folders uploaded as packages, as ``ray.init`` does."""
    if not runtime_env.get("py_modules"):
        return runtime_env
    from ray._private.runtime_env.py_modules import upload_py_modules_if_needed

    with tempfile.TemporaryDirectory(prefix="radas-py-modules-") as scratch:
        return dict(upload_py_modules_if_needed(runtime_env, include_gitignore=True, scratch_dir=scratch))


@contextlib.contextmanager
def interruptible(event: threading.Event) -> Iterator[None]:
    """Within this block, a Tune run started by this thread stops gracefully when ``event``
    is set (needs :func:`install`)."""
    _local.event = event
    try:
        yield
    finally:
        _local.event = None


# ---- accessors ------------------------------------------------------------------------------
def wrap_function(function: Callable[..., Any]) -> type:
    """Tune's function-trainable class for ``function``."""
    from ray.tune.trainable.function_trainable import wrap_function as wrap

    return wrap(function)


def resources_factory(resources: Mapping[str, float]) -> Any:
    """A ``PlacementGroupFactory`` of one bundle from ``{"cpu": 1, "gpu": 0.5, ...}``."""
    from ray.tune.execution.placement_groups import resource_dict_to_pg_factory

    return resource_dict_to_pg_factory(dict(resources))


def run_config_of(tuner: Any) -> Any:
    """The ``RunConfig`` a (restored) Tuner will run with, to change its callbacks."""
    return tuner._local_tuner.get_run_config()


def tuner_internal(tuner: Any) -> Any:
    """The internal tuner behind a ``ray.tune.Tuner`` (to build a subclass instance around it)."""
    return tuner._local_tuner


def trials_of(results: Any) -> list[Any]:
    """The ``Trial`` objects behind a ``ResultGrid``."""
    return list(results._experiment_analysis.trials)


def trial_history(results: Any, trial_id: str) -> Any:
    """Every reported row of one trial of a ``ResultGrid`` (a DataFrame, or None)."""
    return results._experiment_analysis.trial_dataframes.get(trial_id)


def set_trial_status(trial: Any, status: str) -> None:
    """Give a restored ``Trial`` the status its driver recorded."""
    trial.set_status(status)


def pickled_error(trial: Any) -> BaseException | None:
    """The exception a trial's trainable raised, when Tune kept it (None otherwise)."""
    from pathlib import Path

    from ray import cloudpickle

    path = trial.pickled_error_file
    try:
        if path and Path(path).is_file():
            return cloudpickle.loads(Path(path).read_bytes())
        return trial.get_pickled_error()
    except Exception:  # noqa: BLE001 - an error that cannot be loaded is judged by its text
        return None


def session_dir() -> str:
    """This process's Ray session folder (Ray's own logs and files)."""
    node: Any = ray._private.worker._global_node
    return str(node.get_session_dir_path())


@contextlib.contextmanager
def reports_transformed(transform: Callable[[Any], Any]) -> Iterator[None]:
    """Inside a trial: every ``tune.report`` of this block passes its metrics through
    ``transform`` first (no-op outside a trial)."""
    from ray.train._internal.session import get_session

    session = get_session()
    if session is None:
        yield
        return
    report = session.report
    session.report = lambda metrics, checkpoint=None: report(  # type: ignore[method-assign]
        transform(metrics), checkpoint=checkpoint)
    try:
        yield
    finally:
        session.report = report  # type: ignore[method-assign]


@contextlib.contextmanager
def reports_watched(entering: Callable[[], None], leaving: Callable[[], None]) -> Iterator[None]:
    """Inside a trial: ``entering()`` runs as each ``tune.report`` of this block starts and
    ``leaving()`` as it returns (the trial waits in there for Tune to ask for its next result);
    no-op outside a trial."""
    from ray.train._internal.session import get_session

    session = get_session()
    if session is None:
        yield
        return
    report = session.report

    def watched(metrics: Any, checkpoint: Any = None) -> Any:
        entering()
        try:
            return report(metrics, checkpoint=checkpoint)
        finally:
            leaving()

    session.report = watched  # type: ignore[method-assign]
    try:
        yield
    finally:
        session.report = report  # type: ignore[method-assign]


def trial_folder(trainable: Any = None) -> str | None:
    """The folder of the trial running here (the one Tune keeps its results in, on the sweep's
    storage) for a class ``trainable`` (a ``tune.Trainable``) or, without one, the function
    trainable whose session this is; None outside a trial or when the storage is not a local
    (or mounted) filesystem."""
    storage: Any
    if trainable is not None:
        storage = getattr(trainable, "_storage", None)
    else:
        from ray.train._internal.session import get_session

        session = get_session()
        storage = getattr(session, "storage", None) if session is not None else None
    if storage is None or getattr(storage, "trial_dir_name", None) is None:
        return None
    if getattr(storage.storage_filesystem, "type_name", "") != "local":
        return None
    return str(storage.trial_fs_path)


def variants(param_space: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The configs Tune's default search would run for ``param_space`` (one sample: grid
    searches expanded, distributions sampled)."""
    from ray.tune.search.variant_generator import generate_variants

    return [config for _, config in generate_variants(dict(param_space))]


_report_sink = threading.local()
_report_patch_guard = threading.Lock()


@contextlib.contextmanager
def reports_to(sink: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Outside Tune (the in-process backend): ``tune.report(metrics)`` calls of this thread go to
    ``sink`` instead of being dropped with a warning, as Ray does without a session."""
    from ray import tune

    with _report_patch_guard:
        if not getattr(tune.report, "_radas_dispatch", False):
            original = tune.report

            def report(metrics: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
                target = getattr(_report_sink, "sink", None)
                if target is None:
                    return original(metrics, *args, **kwargs)
                target(dict(metrics))
                return None

            report._radas_dispatch = True  # type: ignore[attr-defined]
            tune.report = report
    _report_sink.sink = sink
    try:
        yield
    finally:
        _report_sink.sink = None


def own_resources(trainable: Any) -> Any:
    """The resources ``tune.with_resources`` gave a function trainable (None: none)."""
    return getattr(trainable, "_resources", None)


def give_resources(function: Any, resources: Any) -> None:
    """Give a function the resources ``tune.with_resources`` gave the trainable it wraps."""
    function._resources = resources


def setting(obj: Any, name: str, default: Any = None) -> Any:
    """A searcher's or scheduler's setting Ray keeps privately (``_metric``, ``_mode``,
    ``_time_attr``, ``_max_t``, ``_supports_buffered_results``...)."""
    return getattr(obj, f"_{name}", default)


def jobs_sdk(address: str, headers: Mapping[str, str], connect_s: float, read_s: float) -> Any:
    """Ray's ``JobSubmissionClient`` for ``address`` whose every HTTP request is bounded: at most
    ``connect_s`` seconds to connect and ``read_s`` to wait for each answer (Ray's SDK itself
    waits forever on a dashboard that accepts connections and never answers)."""
    from ray.job_submission import JobSubmissionClient

    class BoundedJobSubmissionClient(JobSubmissionClient):
        def _do_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", (connect_s, read_s))
            return super()._do_request(method, endpoint, **kwargs)

    return BoundedJobSubmissionClient(address, headers=dict(headers))


def tune_config_of(tuner: Any) -> Any:
    """The ``TuneConfig`` a (restored) Tuner runs with (its scheduler, restored too)."""
    return tuner._local_tuner._tune_config


def checkpoint_results(trial: Any) -> list[Any]:
    """A trial's registered checkpoints (``_TrainingResult``: ``checkpoint`` and ``metrics``), oldest first."""
    return list(trial.run_metadata.checkpoint_manager._checkpoint_results)


def forget_checkpoint(trial: Any, result: Any) -> None:
    """Take a checkpoint (whose folder is gone) out of a trial's register."""
    registered = trial.run_metadata.checkpoint_manager._checkpoint_results
    for i, item in enumerate(registered):
        if item is result:
            del registered[i]
            return


def pbt_references(scheduler: Any) -> tuple[set[str], set[str]]:
    """What a population-based scheduler may still clone: the checkpoint paths its per-trial state
    points at, and the ids of trials whose save it has scheduled but not yet seen (their checkpoints
    must all stay until it has)."""
    paths: set[str] = set()
    pending: set[str] = set()
    for trial, state in dict(getattr(scheduler, "_trial_state", {}) or {}).items():
        last = getattr(state, "last_checkpoint", None)
        if last is None:
            continue
        if hasattr(last, "future"):  # a save PBT scheduled: resolved when it needs it
            resolved = last.resolve(block=False)
            if resolved is None:
                pending.add(trial.trial_id)
                continue
            last = resolved
        checkpoint = getattr(last, "checkpoint", last)
        path = getattr(checkpoint, "path", None)
        if path:
            paths.add(str(path))
    return paths, pending


def failure_causes(error: BaseException, depth: int = 4) -> list[BaseException]:
    """``error`` and what it wraps, outermost first: the failure behind a Ray Train worker's failed
    health check (its ``health_check_failure``: e.g. Ray's memory monitor's ``OutOfMemoryError``),
    its cause and its context."""
    found = [error]
    for inner in (getattr(error, "health_check_failure", None), error.__cause__, error.__context__):
        if isinstance(inner, BaseException) and depth > 0:
            found += failure_causes(inner, depth - 1)
    return found
