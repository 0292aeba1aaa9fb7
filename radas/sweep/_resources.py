"""Resources per trial: what the user asked for (``cpu_per_trial`` / ``gpu_per_trial``, or the
trainable's own ``tune.with_resources``), checked against the largest node of the target before
anything starts."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ray import tune
from ray.tune import PlacementGroupFactory

from radas import _ray
from radas.errors import InsufficientResourcesError, RadasValueError
from radas.sweep._hooks import PlansGpuPerTrial, StartsWorkers

AUTO = "auto"
# the trial's own share when it starts training workers: only its driver runs in it
DRIVER_BUNDLE: dict[str, float] = {"CPU": 0.01}
# how a trial that starts workers learns each worker's share (set in its actor's environment)
WORKER_RESOURCES_ENV = "RADAS_WORKER_RESOURCES"


@dataclass(frozen=True)
class Capacity:
    """What the largest node of a target can give one trial."""

    cpu: float
    gpu: float
    source: str  # e.g. "this machine's Ray", "cluster 'gpu-5090' (its nodes now)"

    def describe(self) -> str:
        """``the largest node of <source> has 8 CPUs and 1 GPU``."""
        return (f"the largest node of {self.source} has {self.cpu:g} CPU{'s' if self.cpu != 1 else ''} "
                f"and {self.gpu:g} GPU{'s' if self.gpu != 1 else ''}")


# runtime_env fields that change the trials' Python environment
_ENV_CHANGERS = ("pip", "uv", "conda", "py_executable", "container", "image_uri")


@dataclass(frozen=True)
class TrialEnvironment:
    """Where a sweep's trials will run, for a trainable that plans by what is installed there:
    ``here`` when they run in this process's Python environment (local Ray) unless ``runtime_env``
    changes it, else on another machine (a cluster)."""

    here: bool
    runtime_env: Mapping[str, Any]

    def requirements(self) -> list[str]:
        """The packages ``runtime_env`` installs for the trials (pip, uv, conda), as written."""
        found: list[str] = []
        for key in ("pip", "uv"):
            value = self.runtime_env.get(key)
            if isinstance(value, Mapping):
                value = value.get("packages")
            if isinstance(value, (list, tuple)):
                found += [str(v) for v in value]
        conda = self.runtime_env.get("conda")
        if isinstance(conda, Mapping):
            for dep in conda.get("dependencies") or []:
                if isinstance(dep, Mapping):
                    found += [str(v) for v in dep.get("pip") or []]
                else:
                    found.append(str(dep))
        return found

    def has(self, module: str) -> bool | None:
        """Whether ``module`` can be imported in the trials: True when ``runtime_env`` installs a
        package of that name; else, for trials here in this environment as it is, whether it
        imports here; None when it cannot be known from here."""
        import re

        names = {re.split(r"[\s<>=!~;\[@]", r.strip(), maxsplit=1)[0].lower().replace("_", "-")
                 for r in self.requirements()}
        if module.lower().replace("_", "-") in names:
            return True
        if self.here and not any(self.runtime_env.get(k) for k in _ENV_CHANGERS):
            import importlib.util

            return importlib.util.find_spec(module) is not None
        return None


@dataclass(frozen=True)
class TrialResources:
    """The resources of every trial of a sweep.

    ``factory`` is what radas gives Tune (None: keep the trainable's own); ``bundles`` the
    static request to check (None when it depends on the config); ``origin`` names what the
    request came from, for messages.
    """

    factory: PlacementGroupFactory | Callable[[dict[str, Any]], PlacementGroupFactory] | None
    bundles: list[dict[str, float]] | None
    strategy: str
    origin: str

    def summary(self) -> dict[str, float]:
        """Total CPUs and GPUs per trial (``{}`` when it depends on the config)."""
        if self.bundles is None:
            return {}
        return {kind.lower(): sum(b.get(kind, 0.0) for b in self.bundles) for kind in ("CPU", "GPU")}


def own_resources(trainable: Any) -> PlacementGroupFactory | Callable[..., Any] | None:
    """The resources the trainable asks for itself (``tune.with_resources``, or a Trainable
    class's ``default_resource_request``): a factory, a function of the config, or None."""
    if not inspect.isclass(trainable):
        return _ray.own_resources(trainable)
    cls: Any = trainable
    base: Any = tune.Trainable
    if cls.default_resource_request.__func__ is base.default_resource_request.__func__:
        return None
    try:
        request = cls.default_resource_request({})
    except Exception:  # noqa: BLE001 - depends on config keys: a function of the config
        return cls.default_resource_request
    if isinstance(request, Mapping):
        request = _ray.resources_factory(dict(request))
    return request if isinstance(request, PlacementGroupFactory) else cls.default_resource_request


def _static(request: Any) -> PlacementGroupFactory | None:
    return request if isinstance(request, PlacementGroupFactory) else None


def resolve_resources(
    trainable: Any, cpu_per_trial: float | None, gpu_per_trial: float | None, default_gpu: float
) -> TrialResources:
    """The trials' resources: the trainable's own when it has them (an error when
    ``cpu_per_trial`` / ``gpu_per_trial`` ask for something else), else ``cpu_per_trial``
    (default 1) and ``gpu_per_trial`` (default: the target's ``default_gpu``)."""
    own = own_resources(trainable)
    if own is None:
        cpu = 1.0 if cpu_per_trial is None else float(cpu_per_trial)
        gpu = default_gpu if gpu_per_trial is None else float(gpu_per_trial)
        factory = _ray.resources_factory({"cpu": cpu, "gpu": gpu})
        origin = f"cpu_per_trial={cpu:g}" + (f", gpu_per_trial={gpu:g}" if gpu else "")
        bundles = [dict(b) for b in factory.bundles]
        if isinstance(trainable, StartsWorkers):
            # a trial of several workers reserves its driver's sliver; each worker (Ray Train
            # places them) needs the bundle checked against the nodes
            return TrialResources(_per_config(trainable, factory), bundles, factory.strategy,
                                  origin + " (per training worker when a trial starts several)")
        return TrialResources(factory, bundles, factory.strategy, origin)
    static = _static(own)
    if cpu_per_trial is not None or gpu_per_trial is not None:
        asked = {k: v for k, v in (("CPU", cpu_per_trial), ("GPU", gpu_per_trial)) if v is not None}
        given = static.required_resources if static is not None else None
        if given is None or any(abs(float(given.get(k, 0.0)) - float(v)) > 1e-9 for k, v in asked.items()):
            has = f"asks for {_text(given)}" if given is not None else "sets its resources per config"
            args = ", ".join(f"{'cpu' if k == 'CPU' else 'gpu'}_per_trial={v:g}" for k, v in asked.items())
            raise RadasValueError(
                f"the trainable {has} (tune.with_resources / default_resource_request) but {args} "
                "asks for something else: give the resources in one place only"
            )
    if static is None:
        return TrialResources(None, None, "PACK", "the trainable's resources per config")
    return TrialResources(None, [dict(b) for b in static.bundles], static.strategy,
                          f"tune.with_resources ({_text(static.required_resources)} per trial)")


def _per_config(trainable: StartsWorkers, one: PlacementGroupFactory
                ) -> Callable[[dict[str, Any]], PlacementGroupFactory]:
    """The trial's resources by its config: ``one`` when it trains in its own process, else its
    driver's sliver (its workers get ``one`` each from Ray Train)."""
    driver = _ray.resources_factory({k.lower(): v for k, v in DRIVER_BUNDLE.items()})

    def resources(config: dict[str, Any]) -> PlacementGroupFactory:
        return one if trainable.workers(config) <= 1 else driver

    return resources


def worker_environment(resources: TrialResources) -> dict[str, str]:
    """The variable that tells a trial what each of its training workers gets (``{}``: the
    resources depend on the config only)."""
    if resources.bundles is None or len(resources.bundles) != 1:
        return {}
    bundle = resources.bundles[0]
    return {WORKER_RESOURCES_ENV: json.dumps({"CPU": float(bundle.get("CPU", 0.0)),
                                              "GPU": float(bundle.get("GPU", 0.0))})}


def worker_resources() -> dict[str, float]:
    """In a trial that starts training workers: each worker's CPUs and GPUs (``{"CPU": 1.0,
    "GPU": 0.0}`` when the sweep did not say: a trial run outside ``run_experiment``)."""
    text = os.environ.get(WORKER_RESOURCES_ENV)
    if not text:
        return {"CPU": 1.0, "GPU": 0.0}
    given = json.loads(text)
    return {"CPU": float(given.get("CPU", 1.0)), "GPU": float(given.get("GPU", 0.0))}


def _text(resources: Mapping[str, float] | None) -> str:
    if not resources:
        return "nothing"
    return ", ".join(f"{v:g} {k}" for k, v in resources.items() if v and k in ("CPU", "GPU")) or "no CPU or GPU"


def check_fits(resources: TrialResources, capacity: Capacity | None) -> None:
    """An error naming the argument when no node of the target can run one trial."""
    if capacity is None or resources.bundles is None:
        return
    bundles = resources.bundles
    if resources.strategy == "STRICT_PACK":
        bundles = [{k: sum(b.get(k, 0.0) for b in bundles) for k in ("CPU", "GPU")}]
    for bundle in bundles:
        for kind, have in (("GPU", capacity.gpu), ("CPU", capacity.cpu)):
            need = float(bundle.get(kind, 0.0))
            if need > have + 1e-9:
                fix = ("run on a cluster with GPUs (see radas.clusters.get_cluster_availability()) or "
                       "use gpu_per_trial=0 to run trials on the CPU" if kind == "GPU" and not have
                       else f"ask for at most {have:g}")
                raise InsufficientResourcesError(
                    f"{resources.origin}: each trial needs {need:g} {kind}, but {capacity.describe()}, so no "
                    f"trial could ever start; {fix}"
                )


def plan_auto_gpu(
    trainable: Any, param_space: Mapping[str, Any], gpu_memory_gib: float | None, capacity: Capacity | None,
    cpu_per_trial: float, environment: TrialEnvironment | None = None,
) -> tuple[float, str]:
    """``gpu_per_trial="auto"``: the trainable's own estimate (``plan_gpu_per_trial``) of how many
    trials fit one GPU of the target; returns the GPU share per trial and the plan to show. A
    trainable whose ``plan_gpu_per_trial`` takes ``trial_environment`` gets ``environment``."""
    if not isinstance(trainable, PlansGpuPerTrial):
        raise RadasValueError(
            "gpu_per_trial='auto' needs a trainable that can estimate its GPU memory (such as "
            "radas.grpo.grpo_trainable); give this trainable a number, e.g. gpu_per_trial=0.5"
        )
    cpus_per_gpu = capacity.cpu / capacity.gpu if capacity is not None and capacity.gpu else None
    extra: dict[str, Any] = {}
    if environment is not None and "trial_environment" in inspect.signature(trainable.plan_gpu_per_trial).parameters:
        extra["trial_environment"] = environment
    fraction, text = trainable.plan_gpu_per_trial(dict(param_space), gpu_memory_gib=gpu_memory_gib,
                                                  cpus_per_gpu=cpus_per_gpu, cpu_per_trial=cpu_per_trial, **extra)
    return float(fraction), str(text)
