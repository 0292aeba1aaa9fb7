"""The question in a notebook (a real Jupyter kernel): asked through the kernel's input request,
it leaves the event loop free for the other experiments of an ``asyncio.gather``, and the stop
button ends it without leaving anything behind that would take a later answer."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator

import pytest
from kernel_session import DEADLINE_S, KernelSession, kernel_env
from test_choice import SCRIPT

# the trainable and run() of the terminal tests, defined in the kernel, then one experiment to ask about
SETUP = SCRIPT + textwrap.dedent("""
    await run("asked", run_choice="run")
    print("SETUP DONE")
""")



@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelSession]:
    session = KernelSession(tmp_path_factory.mktemp("notebook"), kernel_env())
    try:
        assert "SETUP DONE" in session.run(SETUP).done().stdout
        yield session
    finally:
        session.close()


def test_another_experiment_runs_while_the_notebook_question_waits(kernel: KernelSession) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(DEADLINE_S)
        cell = kernel.run(textwrap.dedent(f"""
            async def other():
                reader, writer = await asyncio.open_connection("127.0.0.1", {server.getsockname()[1]})
                await reader.readline()
                results = await run("other", run_choice="run")
                print(f"OTHER DONE with {{len(results['df'])}} trials", flush=True)
                writer.close()

            asked, _ = await asyncio.gather(run("asked"), other())
            print(f"ASKED DONE with {{len(asked['df'])}} trials")
        """))
        connection, _ = server.accept()
        with connection:
            cell.wait(lambda c: bool(c.prompts), "the input request")
            assert "What should radas do?" in cell.prompts[0] and "restore" in cell.prompts[0]
            connection.sendall(b"go\n")  # the other experiment starts now, while the question waits
            cell.wait(lambda c: "OTHER DONE with 2 trials" in c.stdout, "the other experiment ran")
            assert "ASKED DONE" not in cell.stdout and cell.reply is None
            cell.answer("restore")
            assert "ASKED DONE with 2 trials" in cell.done().stdout


def test_the_stop_button_ends_the_question_and_a_later_one_gets_its_own_answer(kernel: KernelSession) -> None:
    cell = kernel.run('await run("asked")')
    cell.wait(lambda c: bool(c.prompts), "the input request")
    kernel.interrupt()
    cell.ended()
    assert cell.reply is not None and cell.reply["status"] == "error"
    assert cell.reply["ename"] in ("CancelledError", "KeyboardInterrupt")

    again = kernel.run('await run("asked"); print("AGAIN DONE")')
    again.wait(lambda c: bool(c.prompts), "the second input request")
    again.answer("run")  # taken by this question, not by the abandoned one
    assert "AGAIN DONE" in again.done().stdout and "archived" in again.stdout
    threads = kernel.run('import threading; print(sorted(t.name for t in threading.enumerate()))').done()
    assert "radas-question" not in threads.stdout
