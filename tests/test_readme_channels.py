"""The README's channel reference stays true to the catalogue and the schemas.

``## Channels`` documents every family of ``channels.CATALOGUE`` (a table row and
a ``### `family` `` subsection) with example payloads that must validate against
the family's schema, and lists every deviation of ``payloads.DEVIATIONS`` (and
of ``private_payloads.DEVIATIONS``). The examples were made by the builders;
when a builder or a schema changes, regenerate them with the builders.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_payload_schemas import SILENT, problems, schema_validator

from mockserver.channels import CATALOGUE
from mockserver.market import payloads, private_payloads

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## Channels"
DEVIATIONS_HEADING = "### Deviations from the schemas"
JSON_BLOCK = re.compile(r"^```json\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
SUBSECTION = re.compile(r"^### (?P<title>.+)$", re.MULTILINE)


def channels_section() -> str:
    """The text of ``## Channels`` up to the next ``##`` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.find(f"\n{HEADING}\n")
    assert start >= 0, f"README.md has no {HEADING!r} section"
    body_start = start + len(HEADING) + 2
    stop = re.compile(r"^#{1,2} ", re.MULTILINE).search(text, body_start)
    return text[body_start : stop.start() if stop else len(text)]


def subsections() -> dict[str, str]:
    """``### `` titles of the section -> their text."""
    section = channels_section()
    found: dict[str, str] = {}
    matches = list(SUBSECTION.finditer(section))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(section)
        found[match["title"].strip()] = section[match.end() : end]
    return found


def family_text(family: str) -> str:
    title = f"`{family}`"
    sections = subsections()
    assert title in sections, f"README {HEADING} has no '### {title}' subsection"
    return sections[title]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row in ``text`` (``\\|`` unescaped)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|(?:-+\|)+", line):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows


def examples(family: str) -> list[Any]:
    return [json.loads(m["body"]) for m in JSON_BLOCK.finditer(family_text(family))]


def family_and_field(deviation: Any) -> tuple[str, str]:
    """A deviation's family and field, whether it is a record or a plain tuple."""
    if hasattr(deviation, "family"):
        return str(deviation.family), str(deviation.field)
    return str(deviation[0]), str(deviation[1])


def test_channels_section_follows_endpoints() -> None:
    """## Channels follows ## Endpoints, with only the REST and client sections between."""
    headings = re.findall(r"^## .+$", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert HEADING in headings
    between = headings[headings.index("## Endpoints") + 1 : headings.index(HEADING)]
    assert set(between) <= {"## REST endpoints", "## Real clients"}


def test_table_lists_the_catalogue() -> None:
    """The section's table has one row per family: its names, access, feed and schema."""
    section = channels_section()
    overview = section[: section.index("\n### ")]
    rows = {row[0].strip("`"): row for row in table_rows(overview)[1:]}
    assert list(rows) == [f.family for f in CATALOGUE]
    for entry in CATALOGUE:
        _, names, access, fed_by, schema = rows[entry.family]
        assert re.findall(r"`([^`]+)`", names) == list(entry.forms), entry.family
        assert access == ("private" if entry.private else "public"), entry.family
        assert fed_by == entry.fed_by, entry.family
        assert schema == (f"`{entry.schema}`" if entry.schema else "none published"), entry.family


def test_every_family_has_a_subsection() -> None:
    """Each catalogue family has its own subsection, and there are no others."""
    titles = set(subsections()) - {DEVIATIONS_HEADING.removeprefix("### ")}
    assert titles == {f"`{f.family}`" for f in CATALOGUE}


@pytest.mark.parametrize("family", [f.family for f in CATALOGUE])
def test_examples_match_the_schema(family: str) -> None:
    """Every example payload of a family validates against the family's schema."""
    found = examples(family)
    if family in SILENT:
        assert found == [], f"{family} streams nothing, yet the README shows a payload"
        return
    assert found, f"README {HEADING}: '### `{family}`' shows no ```json example"
    validator = schema_validator(family)
    for example in found:
        assert problems(validator, example) == [], (family, example)


def test_deviations_are_listed() -> None:
    """Every deviation the builders declare is a row of the section's deviations tables."""
    text = subsections()[DEVIATIONS_HEADING.removeprefix("### ")]
    rows = {(row[0], row[1]) for row in table_rows(text)}
    declared = [family_and_field(d) for d in (*payloads.DEVIATIONS, *private_payloads.DEVIATIONS)]
    missing = [row for row in declared if row not in rows]
    assert not missing, f"deviations missing from README {DEVIATIONS_HEADING}: {missing}"
