"""docs/testing.md stays true: its Python examples pass against the installed plugin, and
what it says of the helpers and the transcript matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_readme import FENCE

from mockserver import pytest_plugin
from mockserver.control import ROUTES
from mockserver.expectations import Expectations
from mockserver.transcript import TranscriptEvent

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_examples_pass(pytester: pytest.Pytester) -> None:
    """Each Python block of docs/testing.md (one test each) passes."""
    blocks = [m["body"] for m in FENCE.finditer(doc()) if m["lang"] == "python"]
    assert len(blocks) >= 3
    pytester.makepyfile(**{f"test_testing_doc_{i}": body for i, body in enumerate(blocks)})
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(blocks))


def test_every_helper_and_event_key_is_documented() -> None:
    """The helpers table names every public helper; the JSON-lines table every event key."""
    text = doc()
    helpers = {name for name in vars(Expectations) if name.startswith(("assert_", "wait_for_"))}
    assert helpers == set(re.findall(r"^\| `(?:await )?(\w+)\(", text, re.MULTILINE))
    keys = {f for f in TranscriptEvent.__dataclass_fields__ if f not in ("kind", "dir", "at_us")}
    for key in keys:
        assert f"`{key}`" in text, key
    for _, path, _ in ROUTES:
        if "transcript" in path:
            assert f"/_mock{path}" in text
    assert pytest_plugin.TRANSCRIPTS_OPTION in text
    assert pytest_plugin.TRANSCRIPTS_INI in text
