"""The report pages, opened in a real headless Chromium (Debian's ``chromium``): they load with no
console error and no network request, show the figures and one table row per trial, and sort.

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
from radas.sweep import ExperimentFolder, Progress
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


class Opened:
    """A page opened in the browser, with what went wrong while it loaded."""

    def __init__(self, browser, path: Path) -> None:
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

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
    opened = Opened(browser, path)
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
    # the call's figure, the learning curves, importance and parallel coordinates, drawn and visible
    for name in ("figure", "curves", "importance", "parallel"):
        image = page.locator(f"#figure-{name} img")
        assert image.is_visible() and image.evaluate("img => img.naturalWidth") > 300, name
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
    shot = page.screenshot(full_page=True)
    assert not_blank(shot) and not opened.problems
    if os.environ.get("RADAS_SCREENSHOT"):
        Path(os.environ["RADAS_SCREENSHOT"]).write_bytes(shot)


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
