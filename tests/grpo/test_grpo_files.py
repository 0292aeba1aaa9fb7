"""validate_prompt_file / validate_reward_file: each error names the file (and line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from grpo_helpers import TOY_PROMPTS, TOY_REWARD, reward_files, write_jsonl

from radas.errors import RadasValueError
from radas.grpo import validate_prompt_file, validate_reward_file
from radas.grpo._files import resolve_path
from radas.grpo._rewards import RewardBook

GOOD = {"prompt": [{"role": "user", "content": "hi"}], "answer": "42"}


def test_toy_files_are_valid() -> None:
    summary = validate_prompt_file(TOY_PROMPTS)
    assert summary.n_prompts == 24 and summary.extra_fields == ("letter",) and summary.conversational
    functions = validate_reward_file(TOY_REWARD, prompt_file=TOY_PROMPTS)
    assert list(functions) == ["toy_reward"]  # a file's reward_fn is named after the file
    assert functions["toy_reward"]([{"role": "assistant", "content": "aab"}], letter="a") == pytest.approx(2 / 3)


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
    assert "['reward']" in str(info.value) and "file.py:function_name" in str(info.value)


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
    book = RewardBook([1.0])
    assert book.percent_correct([0.0, 0.0, 0.0, 0.0]) == 0.0  # nothing beat anything yet
    assert book.percent_correct([0.0, 1.0, 1.0, 0.0]) == 0.5
    assert book.percent_correct([0.5, 0.5]) == 0.0  # below the best seen so far (1.0)
    assert book.state() == {"best": 1.0, "worst": 0.0}
    with_threshold = RewardBook([1.0], correct_threshold=0.5)
    assert with_threshold.percent_correct([0.0, 0.5, 0.7, 0.2]) == 0.5


def test_percent_correct_judges_the_weighted_sum() -> None:
    book = RewardBook([1.0, 2.0], correct_threshold=2.0)
    book.record(0, [1.0, 0.0, float("nan")])
    assert book.take_metrics() == {}  # waits for the last function of the batch
    book.record(1, [0.5, 1.0, 1.0])  # sums: 2.0, 2.0, 2.0 (NaN: not applicable)
    assert book.take_metrics() == {"percent_correct": 1.0, "frac_groups_failed": 0.0, "frac_groups_solved": 1.0}


def test_the_books_samples_are_the_batchs_best_and_worst_completion_by_the_weighted_sum() -> None:
    book = RewardBook([1.0, 2.0])
    prompts = [[{"role": "user", "content": "2+2?"}]] * 3 + ["plain prompt"]
    completions = [[{"role": "assistant", "content": f"answer {i}"}] for i in range(3)] + ["plain"]
    book.record(0, [1.0, 0.0, 5.0, float("nan")], prompts, completions)
    assert book.take_samples() == []  # waits for the last function of the batch
    book.record(1, [1.0, -1.0, 0.0, float("nan")], prompts, completions)  # sums: 3, -2, 5, NaN
    assert book.take_samples() == [
        {"sample": "best", "reward": 5.0, "prompt": "user: 2+2?", "completion": "assistant: answer 2"},
        {"sample": "worst", "reward": -2.0, "prompt": "user: 2+2?", "completion": "assistant: answer 1"}]
    assert book.take_samples() == []  # once
    one = RewardBook([1.0])
    picture = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}]
    one.record(0, [0.5], [picture], ["c"])
    assert one.take_samples() == [{"sample": "best", "reward": 0.5, "prompt": "user: [image]\nWhat is it?",
                                   "completion": "c"}]


# ---------------------------------------------------------------------------------------------
# reward files as users bring them

def test_several_functions_files_and_forms(tmp_path: Path) -> None:
    multi, batch = reward_files(tmp_path)
    functions = validate_reward_file([str(multi), f"{batch}:distinct"], prompt_file=TOY_PROMPTS)
    assert list(functions) == ["letter_share", "short", "distinct"]
    picked = validate_reward_file(f"{multi}:short", prompt_file=TOY_PROMPTS)
    assert list(picked) == ["short"]


def test_batch_form_returning_the_wrong_number(tmp_path: Path) -> None:
    path = _reward(tmp_path, "def f(completions, **kwargs):\n    return [1.0]\n")
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a"}])
    validate_reward_file(f"{path}:f", prompt_file=prompts)  # one completion, one reward: fine
    from radas.grpo._reward_runner import running

    with running(f"{path}:f", workers=1, timeout_s=30, concurrency=4) as runner, \
            pytest.raises(RadasValueError, match="returned list of 1 values for 2 completions"):
        runner.score(0, ["a", "b"], ["x", "y"], [{}, {}], ["line 1", "line 2"])


def test_bad_tuple_return_names_the_form(tmp_path: Path) -> None:
    path = _reward(tmp_path, "def reward_fn(completion, **kwargs):\n    return 1.0, 2.0\n")
    with pytest.raises(RadasValueError, match=r"\(number, \{'name': number, \.\.\.\}\)"):
        validate_reward_file(path, prompt_file=TOY_PROMPTS)


def test_reward_weights_must_match_the_functions_before_the_sweep(tmp_path: Path) -> None:
    from radas.grpo import grpo_trainable

    multi, _ = reward_files(tmp_path)  # two functions
    space = {"model": "tiny", "prompt_file": str(TOY_PROMPTS), "reward_file": str(multi)}
    grpo_trainable.check_param_space({**space, "reward_weights": [1.0, 2.0]})
    with pytest.raises(RadasValueError) as info:
        grpo_trainable.check_param_space({**space, "reward_weights": [1.0, 2.0, 3.0]})
    assert "has 3 weight(s)" in str(info.value) and "letter_share, short" in str(info.value)
