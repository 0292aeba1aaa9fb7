"""Reward code as labs write it, run the way a trial runs it: TRL's accuracy reward on
``math_verify`` (signal-based timeouts) from a trial's thread, an async LLM judge with a
module-level client, a reward that hangs or crashes, TRL's string format and keyword arguments."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from grpo_helpers import write_jsonl

import radas
from radas.errors import RadasValueError
from radas.grpo import validate_prompt_file, validate_reward_file
from radas.grpo._reward_runner import RewardCrashError, RewardTimeoutError, running
from radas.grpo._trainable import run_grpo

# TRL's own accuracy_reward style: math_verify with its default (signal-based) timeouts
MATH = '''
from math_verify import parse, verify


def accuracy(completion, solution, **kwargs):
    gold = parse(solution)
    answer = parse(completion[0]["content"])
    if not gold:
        return None  # TRL's rule: this sample is not scored by this function
    return float(verify(gold, answer))
'''

# an LLM judge: one async HTTP client for the whole module, as the OpenAI / httpx docs show
JUDGE = '''
import httpx

client = httpx.AsyncClient(base_url="{url}", timeout=10)


async def judge(completion, **kwargs):
    answer = await client.post("/score", json={{"text": completion[0]["content"]}})
    return answer.json()["score"]
'''

MATH_PROMPTS = [{"prompt": [{"role": "user", "content": "What is 1+1?"}], "solution": "$2$"},
                {"prompt": [{"role": "user", "content": "What is 2+3?"}], "solution": "$5$"},
                {"prompt": [{"role": "user", "content": "Say hi."}], "solution": "hello"}]


def _in_a_thread(fn: Any) -> Any:
    """Run ``fn`` in a thread, as Ray Tune runs a function trainable; return or raise its outcome."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


@pytest.mark.train
def test_math_verify_rewards_work_from_a_trials_thread(tmp_path: Path, toy_config: dict[str, Any]) -> None:
    """math_verify's default timeouts use signal.alarm, which fails outside a main thread: in a
    trial (a thread) the rewards ran in a worker's main thread, and the check ran them the same way."""
    reward = tmp_path / "math_reward.py"
    reward.write_text(MATH)
    prompts = write_jsonl(tmp_path / "math.jsonl", MATH_PROMPTS)
    spec = f"{reward}:accuracy"
    assert list(_in_a_thread(lambda: validate_reward_file(spec, prompt_file=prompts))) == ["accuracy"]
    with running(spec, workers=1, timeout_s=60, concurrency=4) as runner:
        rewards, _ = _in_a_thread(lambda: runner.score(
            0, ["p"] * 3, [[{"role": "assistant", "content": c}] for c in ("$2$", "$7$", "hi")],
            [{"solution": "$2$"}, {"solution": "$5$"}, {"solution": "no math here"}], ["l1", "l2", "l3"]))
    assert rewards[:2] == [1.0, 0.0] and rewards[2] != rewards[2]  # None: not applicable (NaN)
    reports: list[dict[str, Any]] = []
    _in_a_thread(lambda: run_grpo({**toy_config, "prompt_file": str(prompts), "reward_file": spec},
                                  lambda metrics, checkpoint=None: reports.append(metrics)))
    assert len(reports) == 2 and all("reward_mean" in r for r in reports)


@pytest.fixture
def judge_server():
    """An LLM judge on loopback: scores a text by its length, counting concurrent requests."""
    state = {"now": 0, "most": 0, "calls": 0}

    async def score(request: web.Request) -> web.Response:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        state["calls"] += 1
        text = (await request.json())["text"]
        await __import__("asyncio").sleep(0.05)
        state["now"] -= 1
        return web.json_response({"score": min(len(text), 10) / 10})

    import asyncio

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/score", score)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", state
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)


@pytest.mark.train
@pytest.mark.parametrize("workers", [2, 0])
def test_an_async_judge_with_a_module_level_client_works_step_after_step(
        tmp_path: Path, toy_config: dict[str, Any], judge_server, workers: int) -> None:
    """One event loop for the whole run (a new loop per step made the client fail from step 2 with
    "Event loop is closed"), at most reward_concurrency calls at once."""
    url, state = judge_server
    reward = tmp_path / "judge.py"
    reward.write_text(JUDGE.format(url=url))
    reports: list[dict[str, Any]] = []
    config = {**toy_config, "reward_file": f"{reward}:judge", "max_steps": 3, "rollout_batch_size": 4,
              "n_samples_per_prompt": 4, "reward_workers": workers, "reward_concurrency": 3}
    _in_a_thread(lambda: run_grpo(config, lambda metrics, checkpoint=None: reports.append(metrics)))
    assert len(reports) == 3 and state["calls"] == 3 * 16
    assert 1 <= state["most"] <= 3 * max(workers, 1)


def test_a_reward_that_hangs_or_crashes_ends_the_trial_naming_it(tmp_path: Path) -> None:
    hangs = tmp_path / "hangs.py"
    hangs.write_text("import time\n\ndef reward_fn(completion, **kwargs):\n    time.sleep(3600)\n")
    crashes = tmp_path / "crashes.py"
    crashes.write_text("import os\n\ndef reward_fn(completion, **kwargs):\n    os._exit(3)\n")
    started = time.monotonic()
    with running(str(hangs), workers=1, timeout_s=1.0, concurrency=2) as runner, \
            pytest.raises(RewardTimeoutError, match=r"'hangs' .* reward_timeout_s=1 s on prompt_file 'p' line 7"):
        runner.score(0, ["p"], ["x"], [{}], ["prompt_file 'p' line 7"])
    assert time.monotonic() - started < 30
    with running(str(crashes), workers=1, timeout_s=30, concurrency=2) as runner:
        with pytest.raises(RewardCrashError, match=r"died \(exit code 3\) while calling 'crashes' on line 9"):
            runner.score(0, ["p"], ["x"], [{}], ["line 9"])
        with pytest.raises(RewardCrashError):  # a new worker took its place, and the function still crashes
            runner.score(0, ["p"], ["x"], [{}], ["line 10"])


def test_trls_string_format_and_keyword_arguments_reach_batch_functions(tmp_path: Path) -> None:
    """Plain-string prompts stay strings (TRL's standard format); TRL's keyword arguments arrive;
    a batch function without **kwargs fails in the check, not in the trial."""
    seen = tmp_path / "seen.json"
    reward = tmp_path / "batch.py"
    reward.write_text(f'''
import json

def shapes(prompts, completions, completion_ids, trainer_state, log_metric, **kwargs):
    kinds = {{"prompt": type(prompts[0]).__name__, "completion": type(completions[0]).__name__,
             "ids": type(completion_ids[0]).__name__, "state": type(trainer_state).__name__}}
    json.dump(kinds, open({str(seen)!r}, "w"))
    log_metric("seen", 1.0)
    return [1.0] * len(completions)

def strict(prompts, completions):
    return [1.0] * len(completions)
''')
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"prompt": "Say a."}, {"prompt": "Say b."}])
    validate_reward_file(f"{reward}:shapes", prompt_file=plain)
    assert json.loads(seen.read_text()) == {"prompt": "str", "completion": "str", "ids": "list",
                                            "state": "TrainerState"}
    validate_reward_file(f"{reward}:shapes", prompt_file=plain, apply_chat_template=True)
    assert json.loads(seen.read_text())["prompt"] == json.loads(seen.read_text())["completion"] == "list"
    with pytest.raises(TypeError, match="unexpected keyword argument 'completion_ids'"):
        validate_reward_file(f"{reward}:strict", prompt_file=plain)


@pytest.mark.parametrize("field", ["prompts", "completion_ids", "trainer_state", "log_metric", "log_extra"])
def test_fields_named_like_trls_arguments_are_refused(tmp_path: Path, field: str) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "x", field: 1}])
    with pytest.raises(RadasValueError, match=f"'{field}'.*TRL"):
        validate_prompt_file(prompts)


def test_none_for_every_sample_is_said_and_none_is_left_out_of_the_means(tmp_path: Path, capsys) -> None:
    reward = tmp_path / "multi.py"
    reward.write_text("def other_task(completion, **kwargs):\n    return None\n")
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "x"}, {"prompt": "y"}])
    validate_reward_file(f"{reward}:other_task", prompt_file=prompts)
    assert "returned None for every sample line" in capsys.readouterr().out
    assert radas  # the public package stays importable with the runner's workers started from it


@pytest.mark.train
def test_none_where_a_function_does_not_apply_is_trls_rule(tmp_path: Path, toy_config: dict[str, Any]) -> None:
    """TRL's multi-task example: a function returns None for the samples it does not apply to;
    they are left out of its mean and of the sum, and the check accepts it."""
    reward = tmp_path / "tasks.py"
    reward.write_text("def only_a(completion, letter, **kwargs):\n"
                      "    return None if letter != 'a' else float('a' in completion[0]['content'])\n")
    rows = [{"prompt": [{"role": "user", "content": f"Say {c}."}], "letter": c} for c in "abab"]
    prompts = write_jsonl(tmp_path / "tasks.jsonl", rows)
    assert list(validate_reward_file(f"{reward}:only_a", prompt_file=prompts)) == ["only_a"]
    reports: list[dict[str, Any]] = []
    run_grpo({**toy_config, "prompt_file": str(prompts), "reward_file": f"{reward}:only_a"},
             lambda metrics, checkpoint=None: reports.append(metrics))
    assert len(reports) == 2 and all(0.0 <= r["reward_mean"] <= 1.0 for r in reports)
