"""docs/scenarios.md and scenarios/ cannot rot: every example in them is loaded here.

The convention in the doc: a fenced ```yaml block right after a line
``<!-- scenario -->`` is a scenario that must load; one right after
``<!-- scenario-error -->`` must fail, and the ```text block that follows it is
the loader's report, exactly (the file is called ``example.yaml``). Every yaml
block of the doc must carry one of the two marks, so none escapes the test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from paradex_spec import payload_refs, validator

from mockserver.errors import RPC_ERRORS, ScenarioErrors
from mockserver.scenario import loader
from mockserver.scenario.model import SYNTHETIC_FAMILIES, Scenario
from mockserver.scenario.templates import RenderContext

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "scenarios.md"
SCENARIOS = ROOT / "scenarios"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_MARK = re.compile(r"<!-- (scenario|scenario-error) -->\n\Z")


@dataclass(frozen=True)
class Example:
    """One marked YAML block of the doc."""

    line: int
    text: str
    expected_error: str | None  # the report a scenario-error block must produce

    @property
    def id(self) -> str:
        return f"line{self.line}"


def doc_blocks(path: Path = DOC) -> list[tuple[int, str, str, str]]:
    """Every fenced block of the doc: (line, language, body, the text before it)."""
    source = path.read_text(encoding="utf-8")
    return [
        (source.count("\n", 0, m.start()) + 2, m[1], m[2], source[: m.start()])
        for m in _FENCE.finditer(source)
    ]


def examples() -> list[Example]:
    """The doc's marked YAML blocks, with the report expected of the error ones."""
    blocks = doc_blocks()
    found = []
    for index, (line, language, body, before) in enumerate(blocks):
        mark = _MARK.search(before)
        if language != "yaml" or mark is None:
            continue
        expected = None
        if mark[1] == "scenario-error":
            report = blocks[index + 1] if index + 1 < len(blocks) else (0, "", "", "")
            assert report[1] == "text", (
                f"docs/scenarios.md:{line}: a scenario-error block needs a ```text report after it"
            )
            expected = report[2].rstrip("\n")
        found.append(Example(line, body, expected))
    return found


EXAMPLES = examples()


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.expected_error is None], ids=lambda e: e.id
)
def test_doc_example_loads(example: Example) -> None:
    """Each `<!-- scenario -->` YAML block of docs/scenarios.md is a valid scenario."""
    scenario = loader.loads(example.text, file=f"docs/scenarios.md@{example.line}")
    assert scenario.markets, "every example names its markets"
    assert_payloads_match_schemas(scenario)


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.expected_error is not None], ids=lambda e: e.id
)
def test_doc_error_example_reports_what_the_doc_shows(example: Example) -> None:
    """Each `<!-- scenario-error -->` block fails with exactly the report printed under it."""
    with pytest.raises(ScenarioErrors) as caught:
        loader.loads(example.text, file="example.yaml")
    assert str(caught.value) == example.expected_error


def test_the_doc_has_examples_and_none_unmarked() -> None:
    """The convention is in use, and every yaml block in the doc is marked (so tested)."""
    assert len([e for e in EXAMPLES if e.expected_error is None]) >= 8
    assert len([e for e in EXAMPLES if e.expected_error is not None]) >= 3
    unmarked = [
        line
        for line, language, _, before in doc_blocks()
        if language == "yaml" and _MARK.search(before) is None
    ]
    assert unmarked == [], f"unmarked yaml blocks at docs/scenarios.md lines {unmarked}"


def test_doc_error_table_matches_the_error_kinds() -> None:
    """The doc's table of error kinds lists every kind with its built-in code, message, data."""
    rows = re.findall(r"^\| `(\w+)` \| (-?\d+) \|([^|]*)\|([^|]*)\|$", doc(), re.MULTILINE)
    table = {kind: (int(code), message.strip(), data.strip()) for kind, code, message, data in rows}
    assert table == {
        kind: (error.code, error.message, error.data or "") for kind, error in RPC_ERRORS.items()
    }


def test_doc_lists_every_bundled_scenario() -> None:
    """The doc's table of bundled scenarios names each one that ships."""
    section = doc().split("## The bundled scenarios", 1)[1]
    assert sorted(re.findall(r"^\| `([\w-]+)` \|", section, re.MULTILINE)) == (
        loader.bundled_names()
    )


def test_doc_documents_every_key_of_the_format() -> None:
    """Every key the loader accepts appears in the doc as `key`."""
    keys = {
        *loader._TOP_KEYS,
        *loader._CHANNEL_KEYS,
        *loader._MESSAGE_KEYS,
        *loader._BEHAVIOUR_KEYS,
        *loader._AUTH_KEYS,
        *loader._ERROR_SHAPE_KEYS,
        *loader._MARKET_KEYS,
        *loader._SYNTHETIC_KEYS,
        *loader._BOOK_KEYS,
    }
    missing = sorted(k for k in keys if f"`{k}`" not in doc())
    assert missing == []


# scenarios/


SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))


def test_every_scenario_file_is_bundled() -> None:
    """scenarios/*.yaml are exactly the bundled scenarios (nothing left out of the package)."""
    assert [p.stem for p in SCENARIO_FILES] == loader.bundled_names()


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_scenario_file_loads_and_explains_itself(path: Path) -> None:
    """Each file loads, is named after itself, starts with a comment and has a description."""
    scenario = loader.load_file(path)
    assert scenario.name == path.stem
    assert scenario.description.strip()
    assert path.read_text(encoding="utf-8").startswith("# ")


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_scenario_file_payloads_match_the_asyncapi_schemas(path: Path) -> None:
    """Every payload a bundled scenario sends (messages and on_subscribe) is schema-valid."""
    assert_payloads_match_schemas(loader.load_file(path))


def test_the_default_scenario_is_the_synthetic_market() -> None:
    """default: its three markets fed by the synthetic market, every family, no scripts."""
    # What it publishes is checked over sockets in tests/test_market_runtime.py.
    scenario = loader.load("default")
    assert scenario.markets == ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP")
    assert scenario.synthetic is not None
    assert scenario.synthetic.families == frozenset(SYNTHETIC_FAMILIES)
    assert scenario.channels == ()


# Helpers


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def assert_payloads_match_schemas(scenario: Scenario, renders: int = 3) -> None:
    """Render each payload of the scenario a few times; check it against its channel's schema."""
    refs = payload_refs()
    context = RenderContext(seed=scenario.seed, now_us=lambda: 1_791_421_535_351_531)
    for script in scenario.channels:
        schema_name = refs.get(script.channel.split(".")[0].split("@")[0])
        if schema_name is None:
            continue
        checker = validator(schema_name)
        templates = [m.data for m in script.messages] + list(script.on_subscribe)
        for template in templates:
            for _ in range(renders):
                payload = json.loads(template.render_json(context))
                problems = [e.message for e in checker.iter_errors(payload)]
                assert problems == [], (scenario.source, script.channel, payload)
