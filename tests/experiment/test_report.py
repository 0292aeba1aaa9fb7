"""The report pages, opened in a real headless Chromium (Debian's ``chromium``): they load with no
console error and no network request, draw their charts (hover, the metric picker, seeds
aggregated, the GRPO section), show one table row per trial, and sort.

The experiment folder is made the way a sweep's driver makes it - the results log written by the
Tune callback, the progress file, the call's figure - without starting Ray. ``RADAS_SCREENSHOT=path``
saves the report page's screenshot there (``docs/report.png`` in the README comes from it).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import radas
from radas.cli import main as cli
from radas.sweep import ExperimentFolder, Progress, SampleLog
from radas.sweep._live import ResultsLog

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@dataclass
class Trial:
    """What the results log reads of a Tune trial."""

    trial_id: str
    config: dict
    path: str
    error: str = ""

    def get_error(self) -> Exception:
        return RuntimeError(f"Traceback (most recent call last):\n  ...\n{self.error}")


@dataclass
class Experiment:
    user: str
    name: str
    folder: ExperimentFolder
    trials: list[Trial] = field(default_factory=list)


def make_experiment(user: str, name: str, figure: bool = True) -> Experiment:
    """A finished sweep of 12 trials over lr x optimizer x seed, two of them errored (and the
    figure of the call that ran it)."""
    import matplotlib
    import numpy as np
    import seaborn as sns

    matplotlib.use("Agg")
    folder = ExperimentFolder(Path(radas.get_ray_results_dir(user)), name)
    folder.path.mkdir(parents=True)
    log = ResultsLog(folder.results_file)
    rng = np.random.default_rng(0)
    experiment = Experiment(user, name, folder)
    rows = []
    for i, (lr, opt, seed) in enumerate((lr, opt, seed) for lr in (0.01, 0.1, 0.3) for opt in ("adam", "sgd")
                                        for seed in (0, 1)):
        trial = Trial(f"t{i:03d}", {"lr": lr, "optimizer": opt, "seed": seed}, str(folder.path / f"train_t{i:03d}"))
        experiment.trials.append(trial)
        for step in range(1, 9):
            if lr == 0.3 and opt == "sgd" and step == 3 - 2 * seed:  # seed 1 errors before reporting anything
                trial.error = f"FloatingPointError: loss is nan at step {step}"
                log.on_trial_error(0, [], trial)
                break
            score = lr * (1 - 1 / step) * (2 if opt == "adam" else 1) + rng.normal(0, 0.01)
            log.on_trial_result(0, [], trial, {"score": score, "loss": 1 / step, "training_iteration": step})
            rows.append({"config/lr": lr, "config/optimizer": opt, "score": score})
    log.on_experiment_end([])
    statuses = {t.trial_id: "ERROR" if t.error else "TERMINATED" for t in experiment.trials}
    progress = Progress(experiment=name, total=12, done=10, errored=2, metric="score", mode="max",
                        best=max(r["score"] for r in rows), statuses=statuses, started=time.time() - 754)
    progress.end("finished")
    progress.write(folder.progress_file)
    if not figure:
        return experiment
    import pandas as pd
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    sns.barplot(data=pd.DataFrame(rows), x="config/lr", y="score", hue="config/optimizer", ax=fig.add_subplot())
    fig.savefig(folder.figure_file, dpi=100)
    return experiment


@pytest.fixture(scope="module")
def swept() -> Experiment:
    return make_experiment("reader", "lr-sweep")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium from the system (``apt-get install -y chromium``), driven by Playwright."""
    executable = os.environ.get("RADAS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "the report tests need Chromium: apt-get install -y chromium (or set RADAS_CHROMIUM)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# what headless Chromium's software GL (no GPU here) says about the WebGL the parallel coordinates
# use: the browser's performance notes, not the page's problems
GL_NOTE = "GL Driver Message"


class Opened:
    """A page opened in the browser, with what went wrong while it loaded."""

    def __init__(self, browser, path: Path, charts: bool = False) -> None:
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.page.on("console", lambda m: self.problems.append(m.text)
                     if m.type in ("error", "warning") and GL_NOTE not in m.text else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        if charts:  # every chart drawn (a busy machine takes its time)
            self.page.wait_for_function("window.radas && window.radas.ready", timeout=180_000)

    def column(self, table: str, header: str) -> list[str]:
        index = self.page.eval_on_selector_all(f"#{table} th", "(ths, name) => ths.findIndex(th => "
                                               "th.textContent.trim().startsWith(name))", header)
        return self.page.eval_on_selector_all(f"#{table} tbody tr",
                                              "(rows, i) => rows.map(r => r.cells[i].textContent)", index)


def not_blank(png: bytes) -> bool:
    import io

    from PIL import Image, ImageStat

    image = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(image).stddev[0] > 20 and len(image.getcolors(1 << 16) or []) > 50


def test_the_report_page_in_a_browser(browser, swept, capsys) -> None:
    experiment = swept
    path = radas.report(experiment.user, experiment.name)
    assert path == experiment.folder.report_file and f"report: {path}" in capsys.readouterr().out
    opened = Opened(browser, path, charts=True)
    page = opened.page
    assert not opened.problems and not opened.requests
    assert page.locator(".state").inner_text() == "finished"
    assert "Duration\t12:34" in page.locator(".facts").inner_text()
    # one DOM row per trial, best first; the errored trials listed with their last error line
    assert page.locator("#trials tbody tr").count() == 12
    scores = [float(s) for s in opened.column("trials", "score") if s]
    assert scores == sorted(scores, reverse=True) and len(scores) == 11
    assert opened.column("errors", "last error line") == [f"FloatingPointError: loss is nan at step {step}"
                                                          for step in (3, 1)]
    # the call's figure; the learning curves, history, importance, parallel coordinates and slices drawn
    image = page.locator("#figure-figure img")
    assert image.is_visible() and image.evaluate("img => img.naturalWidth") > 300
    for name in ("curves", "history", "importance", "parallel", "slice"):
        chart = page.locator(f"#chart-{name} .main-svg").first
        assert chart.is_visible() and chart.bounding_box()["width"] > 300, name
    # seeds aggregated: one legend entry per config (lr x optimizer), the seed is no parameter
    assert legend(page, "curves") == [f"lr={lr}, optimizer={opt}" for lr in (0.01, 0.1, 0.3) for opt in ("adam", "sgd")]
    assert bars(page) == {"lr", "optimizer"}
    assert page.locator("#grpo").count() == 0  # no GRPO metrics: no GRPO section
    # sorting: click a header, the order changes; click again, it turns around
    page.locator("#trials th", has_text="lr").click()
    lrs = [float(v) for v in opened.column("trials", "lr")]
    assert lrs == sorted(lrs) and lrs != [float(v) for v in sorted(lrs, reverse=True)]
    page.locator("#trials th", has_text="lr").click()
    assert [float(v) for v in opened.column("trials", "lr")] == sorted(lrs, reverse=True)
    page.locator("#trials th", has_text="score").click()
    ascending = [float(s) for s in opened.column("trials", "score") if s]
    assert ascending == sorted(scores) and opened.column("trials", "score")[-1] == ""  # no score: last
    page.locator("#trials th", has_text="score").click()  # back to best first for the screenshot
    page.evaluate("window.scrollTo(0, 0)")  # the metric toolbar back in its place
    shot = page.screenshot(full_page=True)
    assert not_blank(shot) and not opened.problems
    if os.environ.get("RADAS_SCREENSHOT"):
        Path(os.environ["RADAS_SCREENSHOT"]).write_bytes(shot)


def legend(page, chart: str) -> list[str]:
    return page.eval_on_selector_all(f"#chart-{chart} .legend .traces .legendtext",
                                     "els => els.map(e => e.textContent)")


def bars(page) -> set[str]:
    """The parameters the importance chart ranks."""
    return set(page.evaluate("document.getElementById('chart-importance').data[0].y"))


def test_the_index_page_lists_every_experiment_and_links_its_report(browser, swept, capsys) -> None:
    other = make_experiment(swept.user, "baseline", figure=False)  # no report page yet
    assert cli(["report", swept.user]) == 0
    index = swept.folder.user_root / "radas-index.html"
    assert f"report: {index}" in capsys.readouterr().out
    assert other.folder.report_file.exists()  # written for the index to link to
    opened = Opened(browser, index)
    assert not opened.problems and not opened.requests
    assert opened.column("experiments", "experiment") == ["baseline", "lr-sweep"]
    assert opened.column("experiments", "status") == ["finished", "finished"]
    assert opened.column("experiments", "best")[0].startswith("score=0.5")
    opened.page.locator("#experiments a", has_text="baseline").click()
    opened.page.wait_for_load_state("load")
    assert opened.page.locator("h1").inner_text() == "baseline" and not opened.problems


def test_the_index_lists_only_experiment_folders_and_links_them_by_relative_paths(browser, tmp_path,
                                                                                  capsys) -> None:
    """Folders read back from disk that no experiment can be (a name like ``javascript:...``, a link
    to a folder elsewhere) are skipped with a warning: no link to them, no page written into them.
    Links are relative paths, URL-quoted, so a name with ``@``, ``+``, ``=`` or ``,`` still opens."""
    import re

    user, odd = "indexer", "lr=0.1,bs@2+warm"
    kept = make_experiment(user, odd, figure=False)
    root = kept.folder.user_root
    scheme = root / "javascript:alert(document.domain)"
    scheme.mkdir()
    Progress(experiment=scheme.name).write(scheme / ".radas-progress.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "linked").symlink_to(elsewhere)
    assert cli(["report", user]) == 0
    out = capsys.readouterr().out
    assert "'javascript:alert(document.domain)' cannot be an experiment_name): skipped" in out
    assert f"{root / 'linked'} is a symbolic link (to {str(elsewhere)!r}), not an experiment folder: skipped" in out
    assert list(scheme.iterdir()) == [scheme / ".radas-progress.json"] and list(elsewhere.iterdir()) == []
    text = (root / "radas-index.html").read_text()
    assert re.findall(r'href="([^"]*)"', text) == ["./lr%3D0.1%2Cbs%402%2Bwarm/radas-report.html"]
    assert "javascript:" not in text and "linked" not in text
    opened = Opened(browser, root / "radas-index.html")
    assert opened.column("experiments", "experiment") == [odd] and not opened.problems
    opened.page.locator("#experiments a").click()
    opened.page.wait_for_load_state("load")
    assert opened.page.locator("h1").inner_text() == odd and not opened.problems
    with pytest.raises(radas.ExperimentNotFoundError, match="there are: \\['lr=0.1,bs@2\\+warm'\\]"):
        radas.report(user, "linked")


def test_report_names_what_is_missing(capsys) -> None:
    with pytest.raises(radas.ExperimentNotFoundError, match="experiment_name='nope'.*there are: none"):
        radas.report("nobody-here", "nope")
    with pytest.raises(radas.RadasValueError, match="run_with='memory'"):
        radas.report("nobody-here", run_with="memory")
    assert cli(["report", "nobody-here", "nope"]) == 1
    assert "radas: error: experiment_name='nope'" in capsys.readouterr().err


def test_the_index_of_a_user_without_a_folder_names_the_user_and_the_folder(capsys) -> None:
    root = Path(radas.get_ray_results_dir("nobody-at-all"))
    with pytest.raises(radas.ExperimentNotFoundError) as info:
        radas.report("nobody-at-all")
    assert f"user 'nobody-at-all' has no experiments: there is no folder {root}" in str(info.value)
    assert cli(["report", "nobody-at-all"]) == 1  # `radas report USER`: the error, no traceback
    assert "radas: error: user 'nobody-at-all' has no experiments" in capsys.readouterr().err
    assert not root.exists()
    with pytest.raises(radas.RadasValueError, match="experiment_name='radas-index.html' is a name radas gives"):
        radas.report("nobody-at-all", "radas-index.html")


GRPO = ("reward_mean", "kl", "entropy", "completion_length", "completion_clipped_ratio")
LRS = tuple(1e-6 * 2**i for i in range(10))
BETAS = (0.0, 0.01, 0.02, 0.05, 0.1)


def grpo_sweep(user: str, name: str, seeds: int = 10, reports: int = 200) -> tuple[ExperimentFolder, dict]:
    """A finished GRPO sweep of lr x beta x seed (500 trials of 200 reports by default) with the
    metrics radas.grpo reports; every 7th trial stopped half-way with a stop_reason. Returns its
    folder and every reported reward_mean and kl by (trial id, step)."""
    import numpy as np

    folder = ExperimentFolder(Path(radas.get_ray_results_dir(user)), name)
    folder.path.mkdir(parents=True)
    log = ResultsLog(folder.results_file)
    rng = np.random.default_rng(1)
    reported: dict = {}
    statuses = {}
    index = 0
    for lr in LRS:
        for beta in BETAS:
            for seed in range(seeds):
                trial = Trial(f"t{index:04d}", {"lr": lr, "beta": beta, "seed": seed}, str(folder.path / f"t{index}"))
                last = reports // 2 if index % 7 == 0 else reports
                Path(trial.path).mkdir()
                written: list[dict] = []  # what the trial's model wrote at the step
                samples = SampleLog(trial.path, written.copy)
                for step in range(1, last + 1):
                    written[:] = [{"sample": "best", "reward": 1.0, "prompt": f"Q of {trial.trial_id}",
                                   "completion": f"<b>A</b> {trial.trial_id}@{step}"}]
                    if step & (step - 1) == 0 or step == last:  # the steps SampleLog keeps: its files as for every step
                        samples.step(step)
                    reward = np.log2(lr * 1e6 + 1) / 10 * (1 - np.exp(-step / 40)) - beta + rng.normal(0, 0.05)
                    result = {"reward_mean": reward, "kl": beta * step / 100 + abs(rng.normal(0, 0.01)),
                              "entropy": 1.2 - step / 400 + rng.normal(0, 0.02),
                              "completion_length": 120 + step / 4 + rng.normal(0, 5),
                              "completion_clipped_ratio": min(1.0, step / 300 + abs(rng.normal(0, 0.02))),
                              "loss": 1 / step + rng.normal(0, 0.01), "step": step, "training_iteration": step}
                    if step == last < reports:
                        result["stop_reason"] = f"reward collapse at step {step}"
                    reported[trial.trial_id, step] = (float(reward), float(result["kl"]))
                    log.on_trial_result(0, [], trial, result)
                statuses[trial.trial_id] = "TERMINATED"
                index += 1
    log.on_experiment_end([])
    progress = Progress(experiment=name, total=index, done=index, errored=0, metric="reward_mean", mode="max",
                        best=max(r for r, _ in reported.values()), statuses=statuses, started=time.time() - 5400)
    progress.end("finished")
    progress.write(folder.progress_file)
    return folder, reported


@pytest.fixture(scope="module")
def grpo_page() -> tuple[ExperimentFolder, dict, Path]:
    folder, reported = grpo_sweep("reader", "grpo-sweep")
    return folder, reported, radas.report("reader", "grpo-sweep")


def test_a_500_trial_grpo_page_in_a_browser(browser, grpo_page) -> None:
    """500 trials x 200 reports: a page under 6 MB that draws every chart with no console error and
    no request; hover names the trial, its config and value; the metric picker redraws the views;
    the curves are one line per config (mean of its 10 seeds, their range as a band) until every
    seed is asked for; the GRPO section shows its metrics per config and why trials stopped."""
    import statistics

    _, reported, path = grpo_page
    assert path.stat().st_size < 6 * 1024**2
    opened = Opened(browser, path, charts=True)
    page = opened.page
    assert not opened.problems and not opened.requests
    assert page.locator("#metric option").all_inner_texts()[:6] == ["reward_mean", "kl", "entropy",
                                                                    "completion_length",
                                                                    "completion_clipped_ratio", "loss"]
    configs = [f"lr={lr:.4g}, beta={beta:.4g}" for lr in LRS for beta in BETAS]
    assert legend(page, "curves") == configs and bars(page) == {"lr", "beta"}  # 50 configs; no seed
    # a mean line per config: the mean of its 10 seeds at each step of its grid, said on hover
    mean = page.evaluate("""() => { const t = document.getElementById('chart-curves').data
        .find(t => t.name === 'lr=1e-06, beta=0'); return {x: t.x, y: t.y, hover: t.hovertemplate}; }""")
    assert "mean of %{customdata[0]} seeds" in mean["hover"] and len(mean["x"]) >= 20 and mean["x"][-1] == 200
    for step, value in list(zip(mean["x"], mean["y"], strict=True))[::7]:
        seeds = [reported[f"t{i:04d}", step][0] for i in range(10) if (f"t{i:04d}", step) in reported]
        assert value == pytest.approx(statistics.mean(seeds), rel=1e-5)
    # hover on the history: the trial, its config and its value
    late = [f"t{i:04d}" for i in range(400, 500)]
    worst = min(late, key=lambda t: reported[t, 100 if int(t[1:]) % 7 == 0 else 200][0])
    i = int(worst[1:])
    page.locator("#chart-history").scroll_into_view_if_needed()
    x, y = page.evaluate("""(i) => { const div = document.getElementById('chart-history'), l = div._fullLayout,
        box = div.getBoundingClientRect(), t = div.data[0];
        return [box.left + l.xaxis._offset + l.xaxis.l2p(t.x[i]),
                box.top + l.yaxis._offset + l.yaxis.l2p(t.y[i])]; }""", i)
    page.mouse.move(x, y)
    hover = page.locator("#chart-history .hoverlayer .hovertext")
    hover.wait_for(timeout=30_000)
    text = hover.first.evaluate("g => Array.from(g.querySelectorAll('tspan.line')).map(t => t.textContent)"
                                " .join('\\n')")
    lr, beta = LRS[i // 50], BETAS[i // 10 % 5]
    assert f"trial {worst}" in text and f"lr={lr:.4g}, beta={beta:.4g}, seed={i % 10}" in text
    assert "reward_mean" in text and f"#{i + 1}" in text
    # the metric picker: every view shows kl (lower is better: the best so far is its minimum)
    page.select_option("#metric", label="kl")
    page.wait_for_function("document.getElementById('chart-curves').layout.yaxis.title.text === 'kl'", timeout=60_000)
    page.wait_for_function("document.getElementById('chart-history').data[1].name === 'best so far (min)'",
                           timeout=60_000)
    assert page.evaluate("location.hash") == "#metric=kl"
    history = page.evaluate("document.getElementById('chart-history').data[0].y")
    assert history[3] == pytest.approx(reported["t0003", 200][1], rel=1e-5)
    # every seed on request: 500 trials in the curves, named on hover
    page.check("#every-seed")
    page.wait_for_function("document.getElementById('chart-curves').data.some(t => t.name.endsWith(' seeds'))",
                           timeout=60_000)
    trials = page.evaluate("""() => new Set(document.getElementById('chart-curves').data
        .filter(t => t.name.endsWith(' seeds')).flatMap(t => t.customdata).filter(Boolean)
        .map(c => c.split(',')[0])).size""")
    assert trials == 500
    # the GRPO section: its five metrics per config side by side, the stopped trials and why
    grpo = page.locator("#grpo")
    assert grpo.is_visible() and page.locator("#chart-grpo .main-svg").first.is_visible()
    titles = page.evaluate("""() => { const l = document.getElementById('chart-grpo').layout;
        return Object.keys(l).filter(k => k.startsWith('yaxis')).map(k => l[k].title.text); }""")
    assert sorted(titles) == sorted(GRPO) and legend(page, "grpo") == configs
    assert opened.column("stops", "stop_reason") == ["reward collapse at step 100"] * 72
    assert opened.column("stops", "trial")[:2] == ["t0000", "t0007"]
    # what the best and the worst trial (by their last reward_mean) wrote at their first, middle and last step
    last = {t: reported[t, 100 if int(t[1:]) % 7 == 0 else 200][0] for t in {t for t, _ in reported}}
    best, worst = max(last, key=last.get), min(last, key=last.get)
    page.locator("#grpo-samples").scroll_into_view_if_needed()
    assert page.locator("#grpo-samples").is_visible()
    assert opened.column("samples", "trial rank") == ["best"] * 3 + ["worst"] * 3
    assert opened.column("samples", "trial") == [best] * 3 + [worst] * 3
    middle = {200: "128", 100: "64"}
    ends = [100 if int(t[1:]) % 7 == 0 else 200 for t in (best, worst)]
    assert opened.column("samples", "step") == ["1", middle[ends[0]], str(ends[0]), "1", middle[ends[1]], str(ends[1])]
    assert opened.column("samples", "completion")[2] == f"<b>A</b> {best}@{ends[0]}"  # shown as text
    assert not opened.problems and not opened.requests


def test_an_unchanged_page_is_not_written_again(grpo_page) -> None:
    """The fingerprint a page keeps of its results: the same log and progress, the same page."""
    from radas.experiment import _report

    folder, _, path = grpo_page
    source = _report.source_of(folder, "finished", "refresh", None)
    assert _report.source_of_page(path) == source
    assert _report.source_of(folder, "failed", "refresh", None) != source  # another state: another page
    assert _report.source_of_page(folder.path / "no-such-page.html") is None


def test_the_page_is_rewritten_while_a_sweep_runs_within_its_share_of_the_time(monkeypatch) -> None:
    """A rewrite that took 3 s waits 60 s for the next (5% of the time), however often the view looks."""
    from radas.experiment import _live
    from radas.sweep import RUNNING

    now = [1000.0]
    monkeypatch.setattr(_live.time, "monotonic", lambda: now[0])
    written = []

    class Results:
        progress = Progress(experiment="x", state=RUNNING)

        def refresh(self) -> bool:
            return True

    def page() -> None:
        written.append(now[0])
        now[0] += 3.0

    view = _live.LiveView(Results(), None, None, page, every_s=1.0)
    for _ in range(100):
        view._look(final=False)
        now[0] += 1.0
    assert written == [1000.0, 1063.0] and view.page_s == 6.0
