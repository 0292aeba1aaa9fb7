"""Every python snippet of the user guides in docs/ runs, in order, like the cells of a notebook."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = [ROOT / "docs" / "from-ray-tune.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """The ```python blocks of a markdown page, with the line each starts on."""
    text = page.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: p.name)
async def test_snippets_run_in_order(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str], local_ray: None) -> None:
    """The snippets share one namespace and may ``await`` at top level, as in Jupyter. Ray Tune's
    own ``tuner.fit()`` writes under ``tmp_path`` instead of ``~/ray_results``."""
    import ray.train.constants

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(ray.train.constants, "DEFAULT_STORAGE_PATH", str(tmp_path / "ray_results"))
    blocks = python_blocks(page)
    assert len(blocks) >= 5, f"{page.name}: python blocks not found"
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for line, source in blocks:
        code = compile(source, f"{page.name}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        try:
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                await result
        except Exception as exc:
            raise AssertionError(f"the snippet at {page.name} line {line} failed: {exc!r}") from exc
    out = capsys.readouterr().out
    assert out.count("succeeded") >= len([s for _, s in blocks if "await run_experiment" in s])
    assert list((tmp_path / "ray_results").iterdir())  # the plain Ray Tune snippet ran too


async def test_the_readmes_first_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], local_ray: None) -> None:
    """The snippet a newcomer sees first runs as it is written (top-level ``await``, as in Jupyter)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "true")
    line, source = python_blocks(ROOT / "README.md")[0]
    namespace: dict[str, Any] = {"__name__": "__main__"}
    code = compile(source, f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result
    results = namespace["results"]
    assert len(results["df"]) == 6 and set(results["df"]["status"]) == {"TERMINATED"}
    assert results["fig"] is not None and "succeeded" in capsys.readouterr().out
