"""Every example script and notebook runs as a user would run it."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py"))


@pytest.mark.ray  # Ray starts in the subprocess
def test_quickstart_runs_as_a_script(tmp_path: Path) -> None:
    env = {**os.environ, "CI": "true"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout
    assert next((tmp_path / "radas_figures").rglob("quickstart.png")).stat().st_size > 0


IN_PROCESS = [p for p in EXAMPLES if p.name not in ("quickstart.py", "cluster_sweep.py")]


@pytest.mark.parametrize("script", IN_PROCESS, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path, monkeypatch, capsys, local_ray) -> None:
    """Each example's ``__main__``, run in this process (sharing its Ray) to keep the suite fast."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("RADAS_GRPO_STEPS", "4")
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    assert "succeeded" in capsys.readouterr().out


class CountingClient(NotebookClient):
    """Keeps the type (and the kind of data) of every message each cell's execution sent."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.messages: dict[int, list[tuple[str, str]]] = {}

    def process_message(self, msg, cell, cell_index):
        data = msg.get("content", {}).get("data", {})
        kind = "image" if "image/png" in data else "html" if "text/html" in data else ""
        self.messages.setdefault(cell_index, []).append((msg["msg_type"], kind))
        return super().process_message(msg, cell, cell_index)


@pytest.mark.ray  # Ray starts in the subprocess
@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_runs_with_top_level_await(notebook: Path, tmp_path: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    client = CountingClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    if notebook.name == "quickstart.ipynb":
        check_live_display(nb, client)


def check_live_display(nb, client: CountingClient) -> None:
    """The sweep's cell shows one progress bar and one live figure, updated in place: many updates,
    few outputs (their number does not grow with the sweep's length)."""
    index = next(i for i, cell in enumerate(nb.cells)
                 if "notebook-quickstart" in cell.source and "await" in cell.source)
    messages = client.messages[index]
    outputs = nb.cells[index].outputs
    bars = [o for o in outputs if "<progress" in o.get("data", {}).get("text/html", "")]
    live = [o for o in outputs if o.get("data", {}).get("text/plain") == "<radas live figure>"]
    assert len(bars) == 1 and len(live) == 1, [o.get("data", {}).get("text/plain") for o in outputs]
    assert "done" in bars[0]["data"]["text/plain"] and "4/4 done" in bars[0]["data"]["text/html"]
    bar_updates = messages.count(("update_display_data", "html"))
    figure_updates = messages.count(("update_display_data", "image"))
    assert bar_updates >= 5 and figure_updates >= 1, messages
    assert len(outputs) <= 6 < bar_updates + figure_updates, [o.output_type for o in outputs]
