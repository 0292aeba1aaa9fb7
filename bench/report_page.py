"""The report page at scale: its weight, how fast it opens in Chromium, and what writing it costs.

A synthetic GRPO-like sweep (``--trials`` trials x ``--reports`` reports each, 6 metrics, lr x beta
x seed, one trial in 7 stopped early with a ``stop_reason``) is written to a results log the way
radas's driver writes it (its Tune callback, no Ray), then:

* **write cost**: gathering the report from the log and writing the page (as ``radas report`` and
  the end of a call do), and the check that skips an unchanged page (an ``analyze`` call's);
* **page weight and load time** in headless Chromium (Debian's ``chromium``), a fresh page each
  time, from navigation start to the first screen's charts drawn (``open``) and to every chart
  drawn (``all``), median of ``--repeats``, for three pages built from the same data:

  - ``plotly``: radas's page (plotly.min.js from the ``plotly`` package inlined gzipped+base64);
  - ``plotly-raw``: the same page with plotly.min.js inlined as it is (what ``include_plotlyjs=True``
    gives);
  - ``bokeh``: the learning curves (mean and range band per config, hover, legend toggling) and the
    optimisation history drawn with Bokeh (``file_html`` with its inline resources): the two views
    on the page's first screen.

    python bench/report_page.py                 # 500 trials x 200 reports, 5 repeats
    python bench/report_page.py --trials 100 --reports 50 --repeats 3 --keep /tmp/pages
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@dataclass
class Trial:
    """What radas's results log reads of a Tune trial."""

    trial_id: str
    config: dict[str, Any]
    path: str

    def get_error(self) -> Exception:
        return RuntimeError("never")


def make_sweep(root: Path, name: str, trials: int, reports: int) -> Any:
    """A finished GRPO-like sweep's folder: its results log and progress file."""
    from radas.sweep import ExperimentFolder, Progress
    from radas.sweep._live import ResultsLog

    folder = ExperimentFolder(root, name)
    folder.path.mkdir(parents=True)
    log = ResultsLog(folder.results_file)
    rng = np.random.default_rng(0)
    lrs, betas = [1e-6 * 2**i for i in range(10)], [0.0, 0.01, 0.02, 0.05, 0.1]
    seeds = max(1, trials // (len(lrs) * len(betas)))
    statuses, best, index = {}, -np.inf, 0
    for lr in lrs:
        for beta in betas:
            for seed in range(seeds):
                trial = Trial(f"t{index:04d}", {"lr": lr, "beta": beta, "seed": seed}, str(folder.path / f"t{index}"))
                last = reports if index % 7 else reports // 2
                for step in range(1, last + 1):
                    reward = np.log2(lr * 1e6 + 1) / 10 * (1 - np.exp(-step / 40)) - beta + rng.normal(0, 0.05)
                    result = {"reward_mean": reward, "kl": beta * step / 100 + abs(rng.normal(0, 0.01)),
                              "entropy": 1.2 - step / 400 + rng.normal(0, 0.02),
                              "completion_length": 120 + step / 4 + rng.normal(0, 5),
                              "completion_clipped_ratio": min(1.0, step / 300 + abs(rng.normal(0, 0.02))),
                              "loss": 1 / step + rng.normal(0, 0.01), "step": step, "training_iteration": step}
                    if step == last < reports:
                        result["stop_reason"] = "reward collapse: its 10-step mean fell 0.2 below its best"
                    best = max(best, reward)
                    log.on_trial_result(0, [], trial, result)
                statuses[trial.trial_id] = "TERMINATED"
                index += 1
    log.on_experiment_end([])
    progress = Progress(experiment=name, total=index, done=index, errored=0, metric="reward_mean", mode="max",
                        best=float(best), statuses=statuses, started=time.time() - 3600)
    progress.end("finished")
    progress.write(folder.progress_file)
    return folder


def write_cost(folder: Any, repeats: int) -> dict[str, float]:
    """Seconds to read the log, gather the report and write the page (a fresh reader each time, as
    ``radas report``); and to find that an unchanged page needs no writing."""
    from radas.experiment import _report

    timings: dict[str, list[float]] = {"read the log": [], "trials and history": [], "page": [], "write": [],
                                       "unchanged check": []}
    source = ""
    for _ in range(repeats):
        from radas.sweep import LoggedResults

        started = time.perf_counter()
        results = LoggedResults(folder)
        results.refresh()
        timings["read the log"].append(time.perf_counter() - started)
        started = time.perf_counter()
        report = _report.gather(results, user="bench", experiment=folder.path.name, run_with="local",
                                state="succeeded", metric=None, mode=None, seconds=None,
                                results_path=str(folder.path), page_path=folder.report_file, look=False)
        report.trials, report.history  # noqa: B018 - read here, timed apart from the page
        timings["trials and history"].append(time.perf_counter() - started)
        source = _report.source_of(folder, "succeeded")
        started = time.perf_counter()
        text = _report.page(report, source)
        timings["page"].append(time.perf_counter() - started)
        started = time.perf_counter()
        _report.write(folder.report_file, text)
        timings["write"].append(time.perf_counter() - started)
        started = time.perf_counter()
        assert _report.source_of_page(folder.report_file) == _report.source_of(folder, "succeeded")
        timings["unchanged check"].append(time.perf_counter() - started)
    return {k: statistics.median(v) for k, v in timings.items()}


def plotly_raw(page: str) -> str:
    """radas's page with plotly.min.js inlined as it is instead of compressed."""
    import re
    from importlib import resources

    raw = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_text()
    start = page.index('<script type="application/octet-stream" id="radas-plotly"')
    end = page.index("</script>", start) + len("</script>")
    page = page[:start] + page[end:]
    head = re.search(r"<head>", page)
    assert head is not None
    return page[:head.end()] + "<script>" + raw.replace("</script", "<\\/script") + "</script>" + page[head.end():]


def bokeh_page(report: Any) -> str:
    """The learning curves and the optimisation history of ``report`` drawn with Bokeh, from the same
    payload the Plotly page draws (mean and range of the seeds per config, sampled the same way)."""
    import base64

    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    from radas.experiment import _interactive

    payload = _interactive.build(report.trials, report.history, report.metric, report.mode)
    assert payload is not None
    data = payload.data
    metric, curves = data["metric"], data["curves"]

    def f32(text: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(float)

    values, at = f32(curves["values"][metric]), 0
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf"]
    plot = figure(width=1050, height=480, x_axis_label=curves["x"], y_axis_label=metric,
                  tools="pan,wheel_zoom,box_zoom,reset,save")
    items = []
    for k, config in enumerate(curves["configs"]):
        grid = f32(curves["grid"][k])
        rows = []
        for _ in curves["trials"][k]:
            rows.append(values[at:at + len(grid)])
            at += len(grid)
        stack = np.vstack(rows)
        with np.errstate(all="ignore"):
            mean, low, high = np.nanmean(stack, 0), np.nanmin(stack, 0), np.nanmax(stack, 0)
        color = palette[config % len(palette)]
        band = plot.varea(x=grid, y1=low, y2=high, fill_color=color, fill_alpha=0.15)
        source = ColumnDataSource({"x": grid, "y": mean, "low": low, "high": high,
                                   "config": [data["configs"][config]] * len(grid)})
        line = plot.line("x", "y", source=source, color=color, line_width=2)
        plot.add_tools(HoverTool(renderers=[line], tooltips=[("config", "@config"), (curves["x"], "@x"),
                                                             (metric, "@y{0.0000}"), ("range", "@low to @high")]))
        items.append(LegendItem(label=data["configs"][config], renderers=[line, band]))
    legend = Legend(items=items, click_policy="hide", label_text_font_size="9pt")
    plot.add_layout(legend, "right")
    last = [np.nan if v is None else v for v in data["last"][metric]]
    best = np.fmax.accumulate(np.nan_to_num(np.array(last, dtype=float), nan=-np.inf))
    order = np.arange(1, len(last) + 1)
    history = figure(width=1050, height=420, x_axis_label="trial", y_axis_label=metric)
    points = history.scatter("x", "y", source=ColumnDataSource({"x": order, "y": last, "trial": data["trials"]["id"]}),
                             size=6, alpha=0.7)
    history.add_tools(HoverTool(renderers=[points], tooltips=[("trial", "@trial"), (metric, "@y{0.0000}")]))
    history.step(order, best, mode="after", color="#c44e52", line_width=2)
    return file_html(column(plot, history), INLINE, "bokeh report")


READY = {"plotly": "window.radas && window.radas.ready", "plotly-raw": "window.radas && window.radas.ready",
         "bokeh": "window.Bokeh && Bokeh.index && Bokeh.index.roots.length > 0"}
FIRST = {"plotly": "window.radas.firstAt", "plotly-raw": "window.radas.firstAt", "bokeh": "window.bokehAt"}
DONE = {"plotly": "window.radas.readyAt", "plotly-raw": "window.radas.readyAt", "bokeh": "window.bokehAt"}


def browser_cpu_ms(root: int) -> float:
    """CPU time (user + system) of the browser started as process ``root`` and all its processes."""
    import psutil

    total = 0.0
    try:
        processes = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return 1000 * total


def load_times(pages: dict[str, Path], repeats: int) -> dict[str, dict[str, float]]:
    """Median milliseconds from navigation start to the first screen drawn (``open``) and to every
    chart drawn (``all``), and the CPU time the browser's processes spent until then (``open cpu``,
    ``all cpu``): on a machine shared with other work the wall clock also counts the waits for a
    core, the CPU time only what the page costs."""
    import psutil
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("RADAS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "apt-get install -y chromium (or set RADAS_CHROMIUM)"
    found: dict[str, list[dict[str, float]]] = {name: [] for name in pages}
    wait = ("(ready) => new Promise(r => { const f = () => eval(ready) ? r() : setTimeout(f, 50); f(); })")
    with sync_playwright() as playwright:
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        root = next(p.pid for p in psutil.Process().children(recursive=True)
                    if p.pid not in before and "chrom" in p.name().lower())
        for _ in range(repeats):
            for name, path in pages.items():  # interleaved, so that a busy moment hits every page alike
                context = browser.new_context(viewport={"width": 1200, "height": 900})
                page = context.new_page()
                start = browser_cpu_ms(root)
                page.goto(path.as_uri())
                page.evaluate(wait, f"{READY[name]} || (window.radas && window.radas.firstAt)")
                open_cpu = browser_cpu_ms(root) - start
                page.evaluate(wait, READY[name])
                if name == "bokeh":  # rendered once its root views exist and a frame was painted
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => { window.bokehAt = "
                                  "performance.now(); r(); }))")
                found[name].append({"open": page.evaluate(FIRST[name]), "all": page.evaluate(DONE[name]),
                                    "open cpu": open_cpu, "all cpu": browser_cpu_ms(root) - start})
                context.close()
        browser.close()
    return {name: {key: statistics.median(t[key] for t in times) for key in times[0]}
            for name, times in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="copy the pages into this folder")
    args = parser.parse_args()
    from radas.experiment import _report
    from radas.sweep import LoggedResults

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        folder = make_sweep(Path(tmp), "grpo-sweep", args.trials, args.reports)
        size = folder.results_file.stat().st_size
        print(f"{args.trials} trials x {args.reports} reports: results log {size / 1e6:.1f} MB "
              f"(written in {time.perf_counter() - started:.1f} s)")
        cost = write_cost(folder, max(1, args.repeats // 2))
        print("write cost (median s): " + ", ".join(f"{k} {v:.3f}" for k, v in cost.items()))
        results = LoggedResults(folder)
        report = _report.gather(results, user="bench", experiment="grpo-sweep", run_with="local",
                                state="succeeded", metric=None, mode=None, seconds=None,
                                results_path=str(folder.path), page_path=None)
        text = folder.report_file.read_text()
        pages = {"plotly": folder.report_file, "plotly-raw": Path(tmp) / "plotly-raw.html",
                 "bokeh": Path(tmp) / "bokeh.html"}
        pages["plotly-raw"].write_text(plotly_raw(text))
        pages["bokeh"].write_text(bokeh_page(report))
        times = load_times(pages, args.repeats)
        print(f"{'page':12s} {'weight':>9s} {'open ms':>8s} {'all ms':>8s} {'open cpu ms':>12s} {'all cpu ms':>11s}")
        for name, path in pages.items():
            t = times[name]
            print(f"{name:12s} {path.stat().st_size / 1e6:6.2f} MB {t['open']:8.0f} {t['all']:8.0f} "
                  f"{t['open cpu']:12.0f} {t['all cpu']:11.0f}")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for name, path in pages.items():
                shutil.copy(path, args.keep / f"{name}.html")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
