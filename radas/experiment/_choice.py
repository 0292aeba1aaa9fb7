"""Deciding what to do with an experiment: ``run_choice``, or ask when someone can answer."""

from __future__ import annotations

import asyncio
import os
import sys

from radas._reporter import in_notebook
from radas.errors import ChoiceRequiredError, ExperimentNotFoundError
from radas.sweep import ExperimentState

RUN_CHOICES: tuple[str, ...] = ("run", "restore", "attach", "stop_attach")
_MEANING = {
    "run": "archive the existing results and start a fresh sweep",
    "restore": "continue the saved sweep (finished trials are kept)",
    "attach": "follow the running sweep until it ends, then analyze",
    "stop_attach": "stop the running sweep gracefully and analyze what it found",
}


def valid_choices(state: ExperimentState) -> list[str]:
    """The choices that make sense for the experiment's current state."""
    choices = ["run"]
    if state.restorable and not state.running:
        choices.append("restore")
    if state.running:
        choices += ["attach", "stop_attach"]
    return choices


def can_ask() -> bool:
    """True when a person can answer: a notebook that accepts input, or a terminal (not CI)."""
    if os.environ.get("CI"):
        return False
    if in_notebook():
        kernel = getattr(sys.modules["IPython"].get_ipython(), "kernel", None)
        return bool(getattr(kernel, "_allow_stdin", False))
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


async def ask(question: str) -> str:
    """Ask ``question`` without blocking the event loop (in a notebook: the kernel's input)."""
    if in_notebook():
        return input(question)
    return await asyncio.to_thread(input, question)


def _describe(name: str, state: ExperimentState) -> str:
    running = f"; a sweep of it is running ({state.running_detail})" if state.running else ""
    return f"experiment {name!r} already has results at {state.path}{running}"


async def choose(run_choice: str | None, state: ExperimentState, experiment_name: str, yes: bool) -> str:
    """The action to take: ``run_choice`` checked against ``state``, or the person's answer."""
    valid = valid_choices(state)
    if run_choice is None:
        if not state.exists and not state.running:
            return "run"
        if not can_ask():
            raise ChoiceRequiredError(
                f"{_describe(experiment_name, state)}, and there is no one to ask what to do "
                f"(no terminal or notebook input). Pass run_choice= one of {valid}: "
                + "; ".join(f"{c!r}: {_MEANING[c]}" for c in valid)
            )
        return await _ask_choice(experiment_name, state, valid)
    if run_choice == "restore" and not state.restorable:
        raise ExperimentNotFoundError(
            f"run_choice='restore': experiment {experiment_name!r} has no saved sweep to restore "
            f"at {state.path}; use run_choice='run' to start it"
        )
    if run_choice in ("attach", "stop_attach") and not state.running and not state.exists:
        raise ExperimentNotFoundError(
            f"run_choice={run_choice!r}: experiment {experiment_name!r} is not running and has "
            f"no results at {state.path}; use run_choice='run' to start it"
        )
    if run_choice == "run" and state.running and not yes and can_ask():
        answer = (await ask(
            f"{_describe(experiment_name, state)}. Stop it and start afresh? [y/N] "
        )).strip().lower()
        if answer not in ("y", "yes"):
            raise ChoiceRequiredError(
                f"not confirmed: the running sweep of {experiment_name!r} was left alone. "
                "Pass yes=True to skip this question, or run_choice='attach' to follow it"
            )
    return run_choice


async def _ask_choice(experiment_name: str, state: ExperimentState, valid: list[str]) -> str:
    lines = [_describe(experiment_name, state) + ". What should radas do?"]
    lines += [f"  {c}: {_MEANING[c]}" for c in valid]
    question = "\n".join(lines) + f"\n[{'/'.join(valid)}] > "
    for _ in range(3):
        answer = (await ask(question)).strip().lower()
        if answer in valid:
            return answer
        question = f"please answer one of {valid} > "
    raise ChoiceRequiredError(f"no valid answer; pass run_choice= one of {valid}")
