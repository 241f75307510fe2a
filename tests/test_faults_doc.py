"""docs/faults.md stays true: every kind, parameter and default it states is the code's,
every YAML example loads, every Python call it shows exists, and its quick example runs.

Blocks are read with ``test_docs.doc_blocks``; a fenced ```python block right after
a line ``<!-- runs -->`` is a complete test file that must pass.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from test_docs import doc_blocks

from mockserver import control_client
from mockserver.cli import build_parser
from mockserver.faults import KINDS, decode_fault
from mockserver.faults.decode import ENVELOPE_KEYS
from mockserver.faults.model import TARGET_KINDS
from mockserver.scenario import loader
from mockserver.scenario.model import Scenario
from mockserver.server import MockServer
from mockserver.threaded import ThreadedMockServer

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "faults.md"
BEHAVIOUR = ROOT / "docs" / "behaviour.md"
BLOCKS = doc_blocks(DOC)
YAML_BLOCKS = [(line, body) for line, language, body, _ in BLOCKS if language == "yaml"]
PYTHON_BLOCKS = [
    (line, body, before) for line, language, body, before in BLOCKS if language == "python"
]
RUNS = "<!-- runs -->\n"


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def kind_section(name: str) -> str:
    """The text under ``### name`` up to the next ``##`` or ``###`` heading."""
    text = doc()
    match = re.search(rf"^### {re.escape(name)}\n", text, re.MULTILINE)
    assert match is not None, f"docs/faults.md has no '### {name}' heading"
    end = re.compile(r"^#{2,3} ", re.MULTILINE).search(text, match.end())
    return text[match.end() : end.start() if end else len(text)]


def doc_blocks_of(text: str) -> list[tuple[int, str, str, str]]:
    """The fenced blocks of a piece of the doc (through the same reader as the whole)."""
    return [b for b in BLOCKS if b[2] in text]


def loaded(line: int, body: str) -> Scenario:
    return loader.loads(body, file=f"docs/faults.md@{line}")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_has_a_section_naming_each_parameter(name: str) -> None:
    """Each kind has a `### kind` section that mentions every one of its parameters as `param`."""
    section = kind_section(name)
    missing = [param for param in KINDS[name].param_docs() if f"`{param}`" not in section]
    assert missing == []


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_section_states_its_default_count(name: str) -> None:
    """Each kind's section states the default count the code gives it."""
    count = KINDS[name].default_count
    expected = "Default count: no limit" if count is None else f"Default count {count}"
    assert expected in " ".join(kind_section(name).split())


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_section_has_an_example_of_that_kind(name: str) -> None:
    """Each kind's section has a YAML example that loads and arms a fault of that kind."""
    examples = [
        body for _, language, body, _ in doc_blocks_of(kind_section(name)) if language == "yaml"
    ]
    assert examples, f"no yaml example under '### {name}'"
    kinds = {fault.kind for body in examples for fault in loader.loads(body).faults}
    assert name in kinds


def test_the_kind_table_lists_every_kind_with_its_default_count() -> None:
    """The summary table has one row per kind, its default count as the code has it."""
    rows = re.findall(r"^\| \[`(\w+)`\]\(#\1\) \|[^|]*\| (1|no limit) \|$", doc(), re.MULTILINE)
    table = dict(rows)
    assert table == {
        name: "no limit" if kind.default_count is None else str(kind.default_count)
        for name, kind in KINDS.items()
    }


@pytest.mark.parametrize(("line", "body"), YAML_BLOCKS, ids=[f"line{b[0]}" for b in YAML_BLOCKS])
def test_every_yaml_example_loads(line: int, body: str) -> None:
    """Every ```yaml block is a scenario (or a bare `faults:` list) that loads and has faults."""
    assert loaded(line, body).faults


def test_the_doc_has_yaml_examples() -> None:
    """The doc has its many YAML examples (so the test above is not vacuous)."""
    assert len(YAML_BLOCKS) >= len(KINDS)


def test_the_restart_example_is_the_bundled_scenario() -> None:
    """The doc's restart scenario is exactly scenarios/restart.yaml (markets and faults)."""
    (example,) = [loaded(line, body) for line, body in YAML_BLOCKS if "name: restart\n" in body]
    bundled = loader.load("restart")
    assert example.markets == bundled.markets
    assert example.description == bundled.description
    assert [f.to_json() for f in example.faults] == [f.to_json() for f in bundled.faults]


def test_the_doc_names_every_envelope_key_and_target_form() -> None:
    """Every key of the envelope and every target form (`{session: ...}`) appears in the doc."""
    text = doc()
    missing = [key for key in ENVELOPE_KEYS if f"`{key}`" not in text]
    missing += [kind for kind in TARGET_KINDS if kind != "all" and f"`{{{kind}: " not in text]
    assert missing == []


def called(text: str, variable: str) -> set[str]:
    """The methods called as ``variable.method(`` in ``text``."""
    return set(re.findall(rf"\b{variable}\.(\w+)\(", text))


def test_python_examples_call_only_what_the_servers_have() -> None:
    """Every `paradex_mock.x(` and `paradex_mock_sync.x(` in the doc exists on its server class."""
    text = doc()
    server_calls = called(text, "paradex_mock")
    assert {"fault", "drop_all", "refuse_connections", "load_scenario", "reset"} <= server_calls
    assert sorted(m for m in server_calls if not hasattr(MockServer, m)) == []
    sync_calls = called(text, "paradex_mock_sync")
    assert sync_calls
    assert sorted(m for m in sync_calls if not hasattr(ThreadedMockServer, m)) == []


def test_the_server_methods_table_names_real_methods() -> None:
    """The Python table's `.method(` rows are all methods of MockServer."""
    rows = re.findall(r"^\| `(?:await )?\.(\w+)[(`]", doc(), re.MULTILINE)
    assert len(rows) >= 7
    assert sorted(m for m in rows if not hasattr(MockServer, m)) == []


def test_the_quick_python_example_runs(pytester: pytest.Pytester) -> None:
    """The `<!-- runs -->` Python blocks pass as a test file against the installed plugin."""
    runnable = [body for _, body, before in PYTHON_BLOCKS if before.endswith(RUNS)]
    assert runnable
    tests = sum(
        len(re.findall(r"^async def test_|^def test_", body, re.MULTILINE)) for body in runnable
    )
    pytester.makepyfile(**{f"test_faults_doc_{i}": body for i, body in enumerate(runnable)})
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=tests)


def test_behaviour_md_has_the_faults_section_faults_md_links_to() -> None:
    """behaviour.md has the '## Faults' section that faults.md links to, linking back."""
    assert "behaviour.md#faults" in doc()
    behaviour = BEHAVIOUR.read_text(encoding="utf-8")
    section = behaviour.split("\n## Faults\n", 1)[1].split("\n## ", 1)[0]
    assert "faults.md" in section
    assert "UNCONFIRMED" in section


def test_the_readme_faults_example_loads_and_starts_as_restart() -> None:
    """The README's Faults YAML example loads; its first two faults are the restart scenario's."""
    readme = ROOT / "README.md"
    (body,) = [
        body
        for _, language, body, before in doc_blocks(readme)
        if language == "yaml" and re.findall(r"^## .*$", before, re.MULTILINE)[-1] == "## Faults"
    ]
    faults = loader.loads(body, file="README.md").faults
    restart = loader.load("restart").faults
    assert [unnamed(f.to_json()) for f in faults[:2]] == [unnamed(f.to_json()) for f in restart]
    assert "(docs/faults.md)" in readme.read_text(encoding="utf-8")


def unnamed(envelope: dict[str, Any]) -> dict[str, Any]:
    """A fault's JSON without its name (a scenario's own names differ from the defaults)."""
    return {key: value for key, value in envelope.items() if key != "name"}


def shell_lines() -> list[str]:
    """The command lines of the doc's ```sh blocks, continuation lines joined."""
    bodies = [body for _, language, body, _ in BLOCKS if language == "sh"]
    return [line.strip() for body in bodies for line in body.replace("\\\n", " ").splitlines()]


CONTROL_LINES = [line for line in shell_lines() if line.startswith("paradex-mock control ")]
CURL_FAULTS = [
    json.loads(words[words.index("-d") + 1])
    for words in (shlex.split(line) for line in shell_lines() if line.startswith("curl "))
    if "-d" in words and any(w.endswith("/_mock/faults") for w in words)
]


@pytest.mark.parametrize("line", CONTROL_LINES)
def test_every_control_command_in_the_doc_parses(line: str) -> None:
    """Each `paradex-mock control ...` line parses, and a `fault add` sends a valid envelope."""
    parser = build_parser(environ={})
    args, extras = parser.parse_known_args(shlex.split(line)[1:])
    control_client.take_extra_params(args, extras, parser)
    request = args.build(args)
    if request.method == "POST" and request.path == "/faults":
        assert request.data is not None
        decode_fault(json.loads(request.data), name="doc")


def test_the_doc_shows_the_control_commands_and_curl_bodies() -> None:
    """The doc has CLI and curl examples for faults (so the checks here are not vacuous)."""
    assert len(CONTROL_LINES) >= 10
    assert len(CURL_FAULTS) >= 2


@pytest.mark.parametrize("envelope", CURL_FAULTS, ids=lambda e: e.get("name", e["kind"]))
def test_every_curl_fault_body_is_a_valid_envelope(envelope: dict[str, Any]) -> None:
    """Each JSON body the doc POSTs to /_mock/faults decodes as a fault."""
    assert decode_fault(envelope, name="doc").kind == envelope["kind"]


def test_every_link_within_the_doc_has_its_heading() -> None:
    """Each `](#anchor)` link in docs/faults.md names a heading of the doc (GitHub's slugs)."""
    text = doc()
    headings = re.findall(r"^#{1,4} (.+)$", text, re.MULTILINE)
    slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
    anchors = set(re.findall(r"\]\(#([\w-]+)\)", text))
    assert anchors
    assert sorted(anchors - slugs) == []
