"""validate_prompt_file / validate_reward_file: each error names the file (and line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radas.errors import RadasValueError
from radas.grpo import validate_prompt_file, validate_reward_file
from radas.grpo._files import RewardAdapter, resolve_path

from grpo_helpers import TOY_PROMPTS, TOY_REWARD, write_jsonl

GOOD = {"prompt": [{"role": "user", "content": "hi"}], "answer": "42"}


def test_toy_files_are_valid() -> None:
    summary = validate_prompt_file(TOY_PROMPTS)
    assert summary.n_prompts == 24 and summary.extra_fields == ("letter",) and summary.conversational
    fn = validate_reward_file(TOY_REWARD, prompt_file=TOY_PROMPTS)
    assert fn([{"role": "assistant", "content": "aab"}], letter="a") == pytest.approx(2 / 3)


def test_plain_string_prompts_and_blank_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Say a", "letter": "a"}, "", {"prompt": "Say b"}])
    summary = validate_prompt_file(path)
    assert summary.n_prompts == 2 and not summary.conversational


def test_missing_prompt_file(tmp_path: Path) -> None:
    with pytest.raises(RadasValueError, match=r"prompt_file .*nope\.jsonl.* does not exist"):
        validate_prompt_file(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("bad_line", "fragment"),
    [
        ('{"prompt": "x",', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"question": "x"}', "missing the 'prompt' field; the line has the fields ['question']"),
        ('{"prompt": []}', "empty list"),
        ('{"prompt": [{"role": "user"}]}', "not a chat message"),
        ('{"prompt": 3}', "list of chat messages or a string"),
        ('{"prompt": "x", "completion": "y"}', "reserved"),
    ],
)
def test_bad_prompt_line_names_file_and_line(tmp_path: Path, bad_line: str, fragment: str) -> None:
    import json

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + bad_line + "\n")
    with pytest.raises(RadasValueError) as info:
        validate_prompt_file(path)
    msg = str(info.value)
    assert str(path) in msg and "line 3" in msg and fragment in msg


def test_empty_prompt_file(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("\n\n")
    with pytest.raises(RadasValueError, match="holds no prompts"):
        validate_prompt_file(path)


def _reward(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "reward.py"
    path.write_text(source)
    return path


def test_missing_reward_file(tmp_path: Path) -> None:
    with pytest.raises(RadasValueError, match=r"reward_file .*missing\.py.* does not exist"):
        validate_reward_file(tmp_path / "missing.py")


def test_reward_file_with_syntax_error(tmp_path: Path) -> None:
    path = _reward(tmp_path, "def reward_fn(completion):\n    return (\n\n")
    with pytest.raises(RadasValueError) as info:
        validate_reward_file(path)
    assert str(path) in str(info.value) and "syntax error" in str(info.value) and "line" in str(info.value)


def test_reward_file_that_fails_on_import(tmp_path: Path) -> None:
    path = _reward(tmp_path, "import os\nimport not_a_module_radas\n\ndef reward_fn(c):\n    return 1.0\n")
    with pytest.raises(RadasValueError) as info:
        validate_reward_file(path)
    msg = str(info.value)
    assert str(path) in msg and "does not import (line 2)" in msg and "not_a_module_radas" in msg


def test_reward_file_without_reward_fn(tmp_path: Path) -> None:
    path = _reward(tmp_path, "def reward(completion):\n    return 1.0\n")
    with pytest.raises(RadasValueError) as info:
        validate_reward_file(path)
    assert str(path) in str(info.value) and "does not define reward_fn" in str(info.value)
    assert "['reward']" in str(info.value)


def test_reward_fn_returning_a_non_number_names_the_prompt_line(tmp_path: Path) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a", "n": 1}, {"prompt": "b", "n": 2}])
    path = _reward(tmp_path, "def reward_fn(completion, n):\n    return 1.0 if n == 1 else 'high'\n")
    with pytest.raises(RadasValueError) as info:
        validate_reward_file(path, prompt_file=prompts)
    msg = str(info.value)
    assert str(path) in msg and f"{prompts}' line 2" in msg and "'high' (str)" in msg


def test_reward_fn_raising_gets_a_note_with_file_and_lines(tmp_path: Path) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a"}])
    path = _reward(tmp_path, "def reward_fn(completion, answer):\n    return 1.0\n")
    with pytest.raises(TypeError) as info:
        validate_reward_file(path, prompt_file=prompts)
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert str(path) in notes and "line 1" in notes


def test_relative_paths_resolve_from_the_trial_start_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_jsonl(tmp_path / "p.jsonl", [GOOD])
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(RadasValueError):
        resolve_path("p.jsonl", "prompt_file")
    monkeypatch.setenv("TUNE_ORIG_WORKING_DIR", str(tmp_path))
    assert resolve_path("p.jsonl", "prompt_file") == (tmp_path / "p.jsonl").resolve()


def test_percent_correct_definitions() -> None:
    adapter = RewardAdapter(lambda c: 0.0, Path("r.py"), "p.jsonl")
    assert adapter.percent_correct([0.0, 0.0, 0.0, 0.0]) == 0.0  # nothing beat anything yet
    assert adapter.percent_correct([0.0, 1.0, 1.0, 0.0]) == 0.5
    assert adapter.percent_correct([0.5, 0.5]) == 0.0  # below the best seen so far (1.0)
    assert adapter.state() == {"best": 1.0, "worst": 0.0}
    with_threshold = RewardAdapter(lambda c: 0.0, Path("r.py"), "p.jsonl", correct_threshold=0.5)
    assert with_threshold.percent_correct([0.0, 0.5, 0.7, 0.2]) == 0.5
