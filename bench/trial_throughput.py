"""Trial throughput: radas against raw Ray Tune on the same grid of trivial trials.

Each variant runs in a fresh Python process, timed from its start (imports, ``ray.init``) to
the results DataFrame in hand, so Ray's start-up counts the same for everyone:

* raw Ray Tune with its defaults (a new worker process per trial),
* raw Ray Tune with ``reuse_actors=True``,
* the same with Ray's dashboard started (``ray.init``'s default where ``ray[default]`` is
  installed, as for a Tuner started without ``ray.init``; radas starts it too: Ray Train trials
  release their workers through Ray's State API, which the dashboard serves),
* ``radas.run_experiment`` with its defaults,
* ``radas.run_experiment`` with the live view on (``live_plot=True``): the figure of the trials so
  far redrawn every ``RADAS_LIVE_EVERY_S`` seconds (5, radas's default, and 1) into a PNG file
  while the report page is rewritten - it must stay within 10% of the run without it.

With ``--reports N`` every trial reports N times (a learning curve). The analyze-only variants
then read the sweeps back in a fresh process: ``radas.run_experiment(..., dos=["analyze"])`` (the
brief and the per-report DataFrames, the report page when the results changed) against raw Ray
Tune's ``Tuner.restore`` with its results DataFrame and every trial's ``metrics_dataframe``.

    python bench/trial_throughput.py --trials 100
    python bench/trial_throughput.py --variants radas,live5,live1 --repeats 5   # the live view only
    python bench/trial_throughput.py --trials 400 --reports 50 --variants raw-reuse,radas,raw-analyze,analyze
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

RAW = textwrap.dedent("""
    import json, os, sys, time
    t0 = time.perf_counter()
    import ray
    from ray import tune
    ray.init(include_dashboard=os.environ.get("BENCH_DASHBOARD") == "1", log_to_driver=False)
    def trivial(config):
        for step in range(1, int(os.environ["BENCH_REPORTS"]) + 1):
            tune.report({"score": config["i"] * step, "step": step})
    tuner = tune.Tuner(trivial, param_space={"i": tune.grid_search(list(range(int(sys.argv[1]))))},
                       tune_config=tune.TuneConfig(reuse_actors=sys.argv[2] == "reuse"),
                       run_config=tune.RunConfig(name="raw", storage_path=sys.argv[3], verbose=0))
    df = tuner.fit().get_dataframe()
    assert len(df) == int(sys.argv[1])
    print(json.dumps({"seconds": time.perf_counter() - t0}))
""")

RADAS = textwrap.dedent("""
    import asyncio, json, os, sys, time
    t0 = time.perf_counter()
    from ray import tune
    import radas
    def trivial(config):
        for step in range(1, int(os.environ["BENCH_REPORTS"]) + 1):
            tune.report({"score": config["i"] * step, "step": step})
    if sys.argv[2] != "off":  # the live view on, redrawn every that many seconds
        os.environ["RADAS_LIVE_EVERY_S"] = sys.argv[2]
    results = asyncio.run(radas.run_experiment(
        user_name="bench", experiment_name="radas", trainable=trivial,
        param_space={"i": tune.grid_search(list(range(int(sys.argv[1]))))}, run_choice="run",
        live_plot=sys.argv[2] != "off"))
    assert len(results["df"]) == int(sys.argv[1])
    print(json.dumps({"seconds": time.perf_counter() - t0}))
""")


RAW_ANALYZE = textwrap.dedent("""
    import json, os, sys, time
    t0 = time.perf_counter()
    from ray import tune
    def trivial(config):
        pass
    grid = tune.Tuner.restore(os.path.join(sys.argv[3], "raw"), trivial).get_results()
    df = grid.get_dataframe()
    curves = [result.metrics_dataframe for result in grid]
    assert len(df) == int(sys.argv[1]) and sum(len(c) for c in curves) == len(df) * int(sys.argv[4])
    print(json.dumps({"seconds": time.perf_counter() - t0}))
""")

ANALYZE = textwrap.dedent("""
    import asyncio, json, sys, time
    t0 = time.perf_counter()
    import radas
    def trivial(config):
        pass
    results = asyncio.run(radas.run_experiment(
        user_name="bench", experiment_name="radas", trainable=trivial, dos=["analyze"],
        tuner_to_df_fn=lambda tuner: tuner.get_iteration_dataframe()))
    brief, curves = results["tuner"].get_brief_dataframe(), results["df"]
    assert len(brief) == int(sys.argv[1]) and len(curves) == len(brief) * int(sys.argv[4])
    print(json.dumps({"seconds": time.perf_counter() - t0}))
""")

VARIANTS = {
    "raw": ("raw Ray Tune (defaults)", RAW, ["default", "raw"]),
    "raw-reuse": ("raw Ray Tune (reuse_actors=True)", RAW, ["reuse", "raw"]),
    "raw-reuse-dash": ("raw Ray Tune (reuse, dashboard)", RAW, ["reuse", "raw"]),
    "radas": ("radas.run_experiment", RADAS, ["off"]),
    "live5": ("radas, live view every 5 s", RADAS, ["5"]),
    "live1": ("radas, live view every 1 s", RADAS, ["1"]),
    # read back what "raw" / "radas" wrote (run those first, in the same call)
    "raw-analyze": ("raw Tune restore + DataFrames", RAW_ANALYZE, ["x", "raw"]),
    "analyze": ("radas analyze-only", ANALYZE, ["x", "x"]),
}


def _time(script: str, *args: str, env: dict[str, str], cwd: str) -> float:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, check=False, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100, help="grid size (default 100)")
    parser.add_argument("--reports", type=int, default=1, help="reports per trial (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant; the best is kept")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"which to run, comma-separated (default: all of {','.join(VARIANTS)})")
    args = parser.parse_args()
    chosen = [VARIANTS[key] for key in args.variants.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RADAS_RESULTS_DIR": os.path.join(tmp, "results"), "RAY_AIR_NEW_OUTPUT": "0",
               "BENCH_REPORTS": str(args.reports)}
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, script, extra in chosen:
                extra = [os.path.join(tmp, e) if e == "raw" else e for e in extra]
                dashboard = {"BENCH_DASHBOARD": "1" if "dashboard" in name else "0"}
                seconds = _time(script, str(args.trials), *extra, str(args.reports), env={**env, **dashboard},
                                cwd=tmp)
                best[name] = min(seconds, best.get(name, float("inf")))
    print(f"{args.trials} trivial trials of {args.reports} report(s), from the process's start to the "
          f"DataFrames (best of {args.repeats}):")
    for name, seconds in best.items():
        print(f"  {name:34s} {seconds:7.1f} s  {seconds / args.trials:6.3f} s/trial")
    if "radas analyze-only" in best and "raw Tune restore + DataFrames" in best:
        print(f"analyze-only: radas / raw = {best['radas analyze-only'] / best['raw Tune restore + DataFrames']:5.2f}x "
              "the time")
    radas_s = best.get("radas.run_experiment")
    if radas_s is None:
        return
    for raw in ("raw Ray Tune (defaults)", "raw Ray Tune (reuse_actors=True)", "raw Ray Tune (reuse, dashboard)"):
        if raw in best:
            print(f"radas vs {raw}: {best[raw] / radas_s:5.2f}x the speed")
    for every in ("5", "1"):
        live_s = best.get(f"radas, live view every {every} s")
        if live_s is not None:
            print(f"live view every {every} s: {100 * (live_s / radas_s - 1):+5.1f}% time (within 10%: "
                  f"{'yes' if live_s <= 1.1 * radas_s else 'NO'})")


if __name__ == "__main__":
    main()
