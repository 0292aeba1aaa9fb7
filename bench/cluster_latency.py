"""Cluster latency: radas against a plain ``ray job submit`` on the same small sweep.

Starts a real two-node, token-authenticated Ray cluster on 127.0.0.1 (free ports, its own temp
dirs; tests/ray_cluster_fixture.py) and submits the same grid of the same trainable to it:

* ``await radas.run_experiment(..., run_with="cluster:bench")`` (a client process),
* ``ray job submit --working-dir . -- python sweep.py`` (a plain Ray Tune script).

Each submission is timed from the start of its client process to (a) the first trial result
and (b) the client's exit (the sweep done; for radas also its results DataFrame in hand). The
first result is seen the same way for both, by a watcher thread polling for the first non-empty
``result.json`` of the experiment: in its storage folder, and in the job driver's staging copy
under the cluster's temp dirs (Tune writes it there first and syncs it to storage only every
10 s or so). The cluster is always stopped at the end (only its own processes, never ``ray stop``).

    python bench/cluster_latency.py --repeats 2
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TRAIN = textwrap.dedent("""
    import time
    from ray import tune

    def train(config):
        for step in range(config["steps"]):
            time.sleep(config["sleep"])
            tune.report({"score": config["i"] * (step + 1), "step": step})
""")

# the plain Ray Tune script, run as a Ray Job: ``python sweep.py <name> <storage> <trials> <steps> <sleep>``
PLAIN = textwrap.dedent("""
    import sys
    import ray
    from ray import tune
    from train import train

    name, storage, trials, steps, sleep = (sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                           float(sys.argv[5]))
    ray.init()
    tuner = tune.Tuner(train, param_space={"i": tune.grid_search(list(range(trials))), "steps": steps, "sleep": sleep},
                       run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0))
    results = tuner.fit()
    assert len(results) == trials and not results.errors, results.errors
    print(results.get_dataframe()[["config/i", "score"]])
""")

# the radas client: ``python driver.py <name> <trials> <steps> <sleep>``
RADAS = textwrap.dedent("""
    import asyncio, sys
    from ray import tune
    import radas
    from train import train

    name, trials, steps, sleep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    results = asyncio.run(radas.run_experiment(
        user_name="bench", experiment_name=name, trainable=train, run_with="cluster:bench",
        param_space={"i": tune.grid_search(list(range(trials))), "steps": steps, "sleep": sleep},
        run_choice="run"))
    assert len(results["df"]) == trials and set(results["df"]["status"]) == {"TERMINATED"}, results["df"]
""")


def _fixture():
    """tests/ray_cluster_fixture.py, imported by path."""
    path = REPO / "tests" / "ray_cluster_fixture.py"
    spec = importlib.util.spec_from_file_location("ray_cluster_fixture", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class _FirstResult(threading.Thread):
    """Polls ``patterns`` until one matches a non-empty file; ``seen`` is then its perf_counter."""

    def __init__(self, patterns: list[str]) -> None:
        super().__init__(daemon=True)
        self.patterns = patterns
        self.seen: float | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pattern in self.patterns:
                for path in glob.glob(pattern):
                    try:
                        if os.path.getsize(path) > 0:
                            self.seen = time.perf_counter()
                            return
                    except OSError:
                        pass
            time.sleep(0.02)


def _time(cmd: list[str], cwd: Path, env: dict[str, str], patterns: list[str], log: Path,
          timeout: float) -> tuple[float, float]:
    """(seconds to the first trial result, seconds to the client's exit) of one submission."""
    watcher = _FirstResult(patterns)
    watcher.start()
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        total = time.perf_counter() - t0
    watcher.done.set()
    watcher.join()
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {rc}):\n{log.read_text()[-4000:]}")
    if watcher.seen is None:
        raise SystemExit(f"{' '.join(cmd)}: no trial result was seen at {patterns}")
    return watcher.seen - t0, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6, help="grid size (default 6)")
    parser.add_argument("--steps", type=int, default=3, help="reports per trial (default 3)")
    parser.add_argument("--sleep", type=float, default=0.2, help="seconds before each report (default 0.2)")
    parser.add_argument("--repeats", type=int, default=2, help="submissions per variant; the best is kept")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one submission may take")
    args = parser.parse_args()
    sweep = [str(args.trials), str(args.steps), str(args.sleep)]

    fixture = _fixture()
    started = time.perf_counter()
    cluster = fixture.start_cluster()
    try:
        boot = time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="radas-bench-") as tmp:
            work = Path(tmp, "work")  # the job's working dir, uploaded by both
            work.mkdir()
            (work / "train.py").write_text(TRAIN)
            (work / "sweep.py").write_text(PLAIN)
            (work / "driver.py").write_text(RADAS)
            config = Path(tmp, "config.toml")
            results_dir = cluster.shared / "results"
            plain_dir = cluster.shared / "plain"
            config.write_text(
                f'[clusters.bench]\naddress = "{cluster.address}"\n'
                f'results_dir = "{results_dir}"\nauth_token_file = "{cluster.token_file}"\n'
                "cpu_per_node = 2\ngpu_per_node = 0\n"
            )
            # cluster.env: this environment without RAY_* / RADAS_*, with the cluster's token auth
            pythonpath = os.pathsep.join(p for p in (str(REPO), cluster.env.get("PYTHONPATH")) if p)
            env = {**cluster.env, "PYTHONPATH": pythonpath, "RAY_AIR_NEW_OUTPUT": "0"}
            radas_env = {**env, "RADAS_CONFIG": str(config)}
            # the driver's staging copy of a trial's result.json (the cluster's temp dirs) and the storage copy
            staging = str(cluster.root / "*" / "session_*" / "artifacts" / "*" / "{name}" / "driver_artifacts"
                          / "*" / "result.json")

            def radas_run(name: str) -> tuple[float, float]:
                patterns = [str(results_dir / "bench" / name / "*" / "result.json"), staging.format(name=name)]
                return _time([sys.executable, "driver.py", name, *sweep], work, radas_env, patterns,
                             Path(tmp, f"{name}.log"), args.timeout)

            def plain_run(name: str) -> tuple[float, float]:
                patterns = [str(plain_dir / name / "*" / "result.json"), staging.format(name=name)]
                cmd = ["ray", "job", "submit", "--address", cluster.address, "--working-dir", ".", "--",
                       "python", "sweep.py", name, str(plain_dir), *sweep]
                return _time(cmd, work, env, patterns, Path(tmp, f"{name}.log"), args.timeout)

            variants = {"radas.run_experiment (cluster)": radas_run, "ray job submit + Ray Tune": plain_run}
            best: dict[str, tuple[float, float]] = {}
            for rep in range(args.repeats):
                order = list(variants) if rep % 2 == 0 else list(reversed(variants))
                for label in order:
                    first, total = variants[label](f"lat{rep}-{uuid.uuid4().hex[:6]}")
                    print(f"  repeat {rep + 1}: {label:32s} first result {first:6.2f} s, total {total:6.2f} s",
                          flush=True)
                    old = best.get(label, (float("inf"), float("inf")))
                    best[label] = (min(first, old[0]), min(total, old[1]))
    finally:
        cluster.stop()

    print(f"{args.trials} trials x {args.steps} reports ({args.sleep} s apart) on a local 2-node Ray cluster "
          f"(3 CPUs, started in {boot:.1f} s); from the client's start, best of {args.repeats}:")
    print(f"  {'':32s} {'first result':>13s} {'total':>9s}")
    for label, (first, total) in best.items():
        print(f"  {label:32s} {first:11.2f} s {total:7.2f} s")
    r_first, r_total = best["radas.run_experiment (cluster)"]
    p_first, p_total = best["ray job submit + Ray Tune"]
    print(f"radas / plain:  first result {r_first / p_first:5.2f}x   total {r_total / p_total:5.2f}x")


if __name__ == "__main__":
    main()
