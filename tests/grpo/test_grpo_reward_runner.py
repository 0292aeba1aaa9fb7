"""Reward code as labs write it, run the way a trial runs it: TRL's accuracy reward on
``math_verify`` (signal-based timeouts) from a trial's thread, an async LLM judge with a
module-level client, a reward that hangs or crashes, TRL's string format and keyword arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
from radas.grpo._reward_runner import RewardCrashError, RewardTimeoutError, _portable, import_timeout, running
from radas.grpo._rewards import RewardTrainerState, make_adapters
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
    with running(str(hangs), workers=1, timeout_s=1.0, concurrency=2) as runner, \
            pytest.raises(RewardTimeoutError, match=r"'hangs' .* reward_timeout_s=1 s on prompt_file 'p' line 7"):
        runner.score(0, ["p"], ["x"], [{}], ["prompt_file 'p' line 7"])
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
                                            "state": "RewardTrainerState"}
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


# ---------------------------------------------------------------------------------------------
# where reward files are imported, and what a call carries

# a reward that logs each import: the importing process's pid and whether it may see a GPU
COUNTED = '''
import os

with open({log!r}, "a") as f:
    f.write(f"{{os.getpid()}} {{os.environ.get('CUDA_VISIBLE_DEVICES')!r}}\\n")


def reward_fn(completion, **kwargs):
    return float(os.getpid())
'''


def _imports(log: Path) -> list[tuple[int, str]]:
    """(pid, CUDA_VISIBLE_DEVICES as repr) of each import of the counted reward file so far."""
    if not log.exists():
        return []
    return [(int(pid), env) for pid, env in (line.split(" ", 1) for line in log.read_text().splitlines())]


def test_a_reward_file_is_imported_once_per_process_that_scores_and_never_by_the_check(tmp_path: Path) -> None:
    """The driver's check imports the file in one throwaway worker without a GPU; a runner's
    workers import it once each; the process that holds the runner imports it only when it is the
    one that scores (reward_workers=0)."""
    log = tmp_path / "imports.log"
    reward = tmp_path / "counted.py"
    reward.write_text(COUNTED.format(log=str(log)))
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}])
    here = os.getpid()

    checked = validate_reward_file(reward, prompt_file=prompts)
    assert list(checked) == ["counted"]
    [(pid, gpus)] = _imports(log)
    assert pid != here and gpus == "''"  # one throwaway worker, CUDA_VISIBLE_DEVICES=""

    with running(str(reward), workers=2, timeout_s=60, concurrency=4) as runner:
        assert [rf.name for rf in runner.functions] == ["counted"]
        rewards, _ = runner.score(0, ["p"] * 6, ["x"] * 6, [{}] * 6, [f"line {i}" for i in range(6)])
        workers = {w.process.pid for w in runner._workers if w is not None}
    imports = _imports(log)[1:]
    assert len(imports) == 2 and {pid for pid, _ in imports} == workers and here not in workers
    assert set(rewards) <= {float(pid) for pid in workers}

    with running(str(reward), workers=0, timeout_s=None, concurrency=4) as runner:
        assert runner.score(0, ["p"], ["x"], [{}], ["line 1"])[0] == [float(here)]
    assert [pid for pid, _ in _imports(log)[3:]] == [here]  # reward_workers=0: this process scores

    assert checked["counted"]([{"role": "assistant", "content": "x"}]) == float(here)  # imported on first call
    assert len(_imports(log)) == 5


@pytest.mark.train
def test_a_trial_imports_its_reward_file_in_its_workers_only(tmp_path: Path, toy_config: dict[str, Any]) -> None:
    log = tmp_path / "imports.log"
    reward = tmp_path / "counted.py"
    reward.write_text(COUNTED.format(log=str(log)))
    reports: list[dict[str, Any]] = []
    _in_a_thread(lambda: run_grpo({**toy_config, "reward_file": str(reward), "reward_workers": 2},
                                  lambda metrics, checkpoint=None: reports.append(metrics)))
    imports = _imports(log)
    assert len(reports) == 2 and len(imports) == 2 and os.getpid() not in {pid for pid, _ in imports}


def test_the_import_time_limit_is_a_setting(tmp_path: Path) -> None:
    """The larger of 600 s and reward_timeout_s (None: no limit), or given to the runner."""
    assert import_timeout(120.0) == 600.0 and import_timeout(900.0) == 900.0 and import_timeout(None) is None
    slow = tmp_path / "slow_import.py"
    slow.write_text("import time\n\ntime.sleep(3600)\n\ndef reward_fn(completion, **kwargs):\n    return 1.0\n")
    with running(str(slow), workers=1, timeout_s=60, concurrency=2, import_timeout_s=1.0) as runner, \
            pytest.raises(RewardTimeoutError, match=r"did not finish importing reward_file .*slow_import\.py.* 1 s"):
        runner.functions  # noqa: B018 - waits for the worker's import


def test_trainer_state_travels_slim_whatever_the_length_of_the_run(tmp_path: Path) -> None:
    """A batch function gets the run's progress under TRL's TrainerState names, not the
    log_history that grows every logged step (it was pickled and sent on every call)."""
    from transformers import TrainerState

    seen = tmp_path / "state.json"
    reward = tmp_path / "progress.py"
    reward.write_text(f'''
import json

def progress(completions, trainer_state, **kwargs):
    s = trainer_state
    json.dump({{"step": s.global_step, "max": s.max_steps, "epoch": s.epoch, "tokens": s.num_input_tokens_seen,
               "history": hasattr(s, "log_history")}}, open({str(seen)!r}, "w"))
    return [s.global_step / s.max_steps] * len(completions)
''')
    state = TrainerState(global_step=250, max_steps=1000, epoch=0.5, num_input_tokens_seen=123456)
    state.log_history = [{"loss": 0.1, "step": i, "reward": 0.5} for i in range(5000)]
    for workers in (1, 0):
        with running(f"{reward}:progress", workers=workers, timeout_s=60, concurrency=2) as runner:
            rewards, _ = runner.score(0, ["p", "q"], ["x", "y"], [{}, {}], ["line 1", "line 2"],
                                      {"trainer_state": state, "completion_ids": [[1], [2]]})
        assert rewards == [0.25, 0.25]
        assert json.loads(seen.read_text()) == {"step": 250, "max": 1000, "epoch": 0.5, "tokens": 123456,
                                                "history": False}
    slim = _portable({"trainer_state": state, "log_metric": print})
    assert slim == {"trainer_state": RewardTrainerState(250, 1000, 0.5, state.num_train_epochs, 123456)}


# two async functions that can only finish together: each waits (on the worker's one loop) for
# the other to have started on the same completion
TOGETHER = '''
import asyncio

started = {{}}


async def _meet(name, text):
    started.setdefault(text, set()).add(name)
    while len(started[text]) < 2:
        await asyncio.sleep(0.01)
    return 1.0


async def left(completion, **kwargs):
    return await _meet("left", completion[0]["content"])


async def right(completion, **kwargs):
    return await _meet("right", completion[0]["content"])


async def batch_right(completions, **kwargs):
    return [await _meet("right", c[0]["content"]) for c in completions]


reward_fns = {{"left": left, "right": right}}
'''


@pytest.mark.parametrize("workers", [1, 2, 0])
def test_async_functions_of_one_batch_run_together(tmp_path: Path, workers: int) -> None:
    """As TRL gathers its async reward functions, radas runs the async functions of a batch
    together: each of these two returns only once the other has started on the same completion
    (one after another, the first would time out). TRL calls radas's adapters one by one."""
    reward = tmp_path / "together.py"
    reward.write_text(TOGETHER.format())
    texts = [[{"role": "assistant", "content": f"text {i}"}] for i in range(6)]
    wheres = [f"line {i}" for i in range(6)]
    with running(str(reward), workers=workers, timeout_s=60, concurrency=16) as runner:
        assert [r for r, _ in runner.score_together([0, 1], ["p"] * 6, texts, [{}] * 6, wheres)] == [[1.0] * 6] * 2
        adapters, book = make_adapters(runner, None, "p.jsonl", None)
        step = [[{"role": "assistant", "content": f"step 2, {i}"}] for i in range(6)]
        assert [a(["p"] * 6, step, log_metric=lambda *a: None) for a in adapters] == [[1.0] * 6] * 2
        assert book.take_metrics()["percent_correct"] == 0.0  # all rewards equal: none counts as correct
    if workers == 2:
        return  # a batch function's call goes to one worker; the other's module never sees it
    with running([f"{reward}:left", f"{reward}:batch_right"], workers=workers, timeout_s=60,
                 concurrency=16) as runner:
        assert [r for r, _ in runner.score_all(["p"] * 3, texts[:3], [{}] * 3, wheres[:3])] == [[1.0] * 3] * 2


def test_one_worker_keeps_module_level_state_whole(tmp_path: Path) -> None:
    """A module-level counter and cache see every call of the trial with reward_workers=1
    (with 2 workers each holds its own, seeing about half of the calls)."""
    reward = tmp_path / "cached.py"
    reward.write_text('''
calls = 0
cache = {}


def reward_fn(completion, **kwargs):
    global calls
    calls += 1
    text = completion[0]["content"]
    hit = text in cache
    cache[text] = True
    return (float(calls), {"hit": float(hit)})
''')
    texts = [f"answer {i % 4}" for i in range(16)]  # 4 distinct completions, each 4 times per step
    counts, hits = [], []
    with running(str(reward), workers=1, timeout_s=60, concurrency=4) as runner:
        for step in range(4):
            rewards, infos = runner.score(0, ["p"] * 16, texts, [{}] * 16, [f"step {step}"] * 16)
            counts += rewards
            hits += [i["hit"] for i in infos]
    assert counts == [float(n) for n in range(1, 65)]
    assert sum(hits) == 64 - 4  # every repeat found in the cache: 60 of 64 calls


# ---------------------------------------------------------------------------------------------
# nothing outlives its trial

def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its reaper has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_for(condition: Any, what: str, deadline_s: float = 120.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, f"still waiting after {deadline_s:g} s for {what}"
        time.sleep(0.1)


HANGS_AFTER_STARTING = '''
import pathlib
import subprocess
import time


def reward_fn(completion, **kwargs):
    sandbox = subprocess.Popen(["sleep", "600"])  # a code sandbox, say
    pathlib.Path({marker!r}).write_text(str(sandbox.pid))
    time.sleep(3600)
'''

TRIAL = '''
import json, sys
import multiprocessing.forkserver as forkserver
from radas.grpo._reward_runner import RewardRunner

runner = RewardRunner(sys.argv[1], workers=1, timeout_s=None)
runner.functions  # the worker has imported the file
pids = {"forkserver": forkserver._forkserver._forkserver_pid, "worker": runner._workers[0].process.pid}
open(sys.argv[2], "w").write(json.dumps(pids))
runner.score(0, ["p"], ["x"], [{}], ["line 1"])  # blocks for good
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_reward_workers_die_with_a_trial_killed_during_a_call(tmp_path: Path) -> None:
    """A trial process killed (SIGKILL) while a synchronous reward call runs leaves nothing
    behind: its reward worker, the forkserver it came from and what the reward started end too."""
    marker, pids_file = tmp_path / "sandbox.pid", tmp_path / "pids.json"
    reward = tmp_path / "hangs.py"
    reward.write_text(HANGS_AFTER_STARTING.format(marker=str(marker)))
    trial = subprocess.Popen([sys.executable, "-c", TRIAL, str(reward), str(pids_file)])
    try:
        _wait_for(lambda: marker.exists() and marker.read_text() and pids_file.exists() and pids_file.read_text(),
                  "the trial's reward call to start", deadline_s=300)
        pids = {**json.loads(pids_file.read_text()), "sandbox": int(marker.read_text())}
        assert not any(_gone(pid) for pid in pids.values())
        trial.kill()
        trial.wait(60)
        for name, pid in pids.items():
            _wait_for(lambda pid=pid: _gone(pid), f"the {name} (pid {pid}) to end")
    finally:
        trial.kill()
        trial.wait(60)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_timeout_kills_what_the_reward_started(tmp_path: Path) -> None:
    marker = tmp_path / "sandbox.pid"
    reward = tmp_path / "sandboxed.py"
    reward.write_text(HANGS_AFTER_STARTING.format(marker=str(marker)))
    with running(str(reward), workers=1, timeout_s=1.0, concurrency=2) as runner, \
            pytest.raises(RewardTimeoutError, match="'sandboxed'"):
        runner.score(0, ["p"], ["x"], [{}], ["line 1"])
    sandbox = int(marker.read_text())
    _wait_for(lambda: _gone(sandbox), f"the reward's `sleep 600` (pid {sandbox}) to end")
