"""The README stays true: its quick start, what CI runs, its pytest example, its CLI options."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from mockserver.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
RUN_TIMEOUT_S = 30.0

FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def readme() -> str:
    return README.read_text()


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    stop = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE).search(text, start)
    return text[start : stop.start() if stop else len(text)]


def commands(block: str) -> list[str]:
    """The command lines of a shell block (no blanks, no comments)."""
    return [line.strip() for line in block.splitlines() if line.strip() and line[0] != "#"]


def quick_start() -> list[str]:
    match = FENCE.search(section(readme(), "## Quick start"))
    assert match is not None, "the quick start has no code block"
    return commands(match["body"])


def test_readme_opens_with_the_quick_start() -> None:
    """The first section of the README is the quick start."""
    headings = re.findall(r"^##? .*$", readme(), re.MULTILINE)
    assert headings[:2] == ["# paradex-mock", "## Quick start"]


def test_quick_start_has_exactly_two_commands() -> None:
    """The quick start block is two one-line commands: serve, then the test suite."""
    serve, test = quick_start()
    for command in (serve, test):
        assert command.startswith("python3 -m venv .venv && ")
    assert serve.endswith("paradex-mock serve")
    assert "pytest" in test


def ci_commands() -> list[str]:
    return [
        line
        for line in commands(CI_RUN.read_text())
        if not line.startswith(("set ", "cd ", "rm -rf .venv"))
    ]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run is executable bash with set -euo pipefail and runs the README's test command."""
    text = CI_RUN.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail\n" in text
    assert CI_RUN.stat().st_mode & stat.S_IXUSR
    # Lines before it only install what tests drive outside the venv (wscat, paradex-py).
    *setup, test = ci_commands()
    assert test == quick_start()[1]
    assert not [line for line in setup if "pytest" in line]
    for masking in ("|| true", "set +e", "|| :"):
        assert masking not in text


STUB_PYTHON3 = """\
#!/bin/sh
# Stands in for `python3 -m venv .venv`: a venv whose pip and python log and exit.
mkdir -p .venv/bin
printf '#!/bin/sh\\necho pip "$@" >> calls.log\\n' > .venv/bin/pip
printf '#!/bin/sh\\necho python "$@" >> calls.log\\nexit "$PYTEST_EXIT"\\n' > .venv/bin/python
chmod +x .venv/bin/pip .venv/bin/python
"""


@pytest.mark.parametrize("pytest_exit", [0, 1, 5])
def test_ci_exit_code_is_pytests(tmp_path: Path, pytest_exit: int) -> None:
    """.ci/run on a clean checkout exits with pytest's code, so 'no tests' (5) fails CI."""
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text(CI_RUN.read_text())
    stub_bin = tmp_path / "stub-bin"
    stub_bin.mkdir()
    (stub_bin / "python3").write_text(STUB_PYTHON3)
    (stub_bin / "python3").chmod(0o755)
    (stub_bin / "npm").write_text("#!/bin/sh\n# Stands in for .ci/run's npm install.\n")
    (stub_bin / "npm").chmod(0o755)
    # Stands in for .ci/run's Python 3.10 venv for paradex-py (its real build takes a minute).
    (tmp_path / ".ci" / "paradex-py-venv").write_text("#!/bin/sh\n")
    (tmp_path / ".ci" / "paradex-py-venv").chmod(0o755)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(stub_bin), os.environ.get("PATH", "")]),
        "PYTEST_EXIT": str(pytest_exit),
    }
    result = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")],
        cwd=tmp_path / "stub-bin",  # .ci/run finds the checkout from its own path
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == pytest_exit, result.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == ["pip install -e .[test]", "python -m pytest"]


def test_pytest_examples_run(pytester: pytest.Pytester) -> None:
    """Each of the README's pytest examples (one test each) passes against the installed plugin."""
    blocks = [m["body"] for m in FENCE.finditer(readme()) if m["lang"] == "python"]
    assert len(blocks) >= 2  # the fixture's and the faults'
    pytester.makepyfile(**{f"test_readme_example_{i}": body for i, body in enumerate(blocks)})
    # What a project using the plugin would set in its own pytest configuration.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(blocks))


def command_options(command: str) -> set[str]:
    parser = build_parser(environ={})
    (commands_action,) = (a for a in parser._actions if a.dest == "command")
    sub = commands_action.choices[command]  # type: ignore[index]
    return {s for a in sub._actions for s in a.option_strings if s.startswith("--")} - {"--help"}


def serve_options() -> set[str]:
    return command_options("serve")


def test_readme_documents_every_serve_option_and_no_other() -> None:
    """The README's CLI table lists exactly the options serve accepts; the section names
    no option that no command has."""
    cli = section(readme(), "### From the command line")
    table = {m for m in re.findall(r"^\| `(--[a-z-]+)", cli, re.MULTILINE)}
    assert table == serve_options()
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", cli))
    # The other commands' lines (record, import) name their own options.
    others = command_options("record") | command_options("import")
    assert mentioned <= serve_options() | others | {"--version"}
