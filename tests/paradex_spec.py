"""Paradex's own spec files, for every test that checks the mock against them.

The files live in ``../shared/paradex-spec`` beside the repository (CI lays them
there). A test that needs a missing file fails with a message naming its path;
it never skips. Each file is read once per test run.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SPEC_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "paradex-spec"
OPENRPC = SPEC_DIR / "openrpc.json"
ASYNCAPI = SPEC_DIR / "asyncapi-2.6.0.yaml"
OPENAPI = SPEC_DIR / "openapi.json"


def require(path: Path) -> None:
    """Fail the test, saying where the file should be, when ``path`` is missing."""
    if not path.is_file():
        pytest.fail(
            f"Paradex spec file missing: {path}. The tests need tradeparadex/paradex-docs' "
            "openrpc.json, asyncapi-2.6.0.yaml and openapi.json in ../shared/paradex-spec "
            "next to the repository.",
            pytrace=False,
        )


@cache
def _read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)  # type: ignore[no-any-return]
    # libyaml's loader when present: the pure-Python one takes ~0.3 s for AsyncAPI.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # type: ignore[no-any-return]


def document(path: Path) -> dict[str, Any]:
    """One spec file, parsed (a test failure if it is missing)."""
    require(path)
    return _read(path)


def uri(path: Path) -> str:
    return f"urn:paradex:{path.name}"


@cache
def _registry(path: Path) -> Registry[Any]:
    return Registry().with_resource(uri(path), Resource(contents=_read(path), specification=DRAFT7))


def validator(name: str, *, spec: Path | None = None) -> Draft7Validator:
    """A validator for ``components.schemas.<name>`` of ``spec`` (AsyncAPI by default)."""
    path = ASYNCAPI if spec is None else spec
    require(path)
    schema = {"$ref": f"{uri(path)}#/components/schemas/{name}"}
    return Draft7Validator(schema, registry=_registry(path))


def payload_refs() -> dict[str, str]:
    """Channel family -> the AsyncAPI ``components.schemas`` name its messages carry."""
    refs: dict[str, str] = {}
    for key, channel in document(ASYNCAPI)["channels"].items():
        ref = channel.get("subscribe", {}).get("message", {}).get("payload", {}).get("$ref", "")
        family = re.match(r"^/([a-z_]+)", key)
        if family and ref.startswith("#/components/schemas/"):
            refs[family[1]] = ref.rsplit("/", 1)[1]
    return refs


def problems(checker: Draft7Validator, instance: Any) -> list[str]:
    """Every schema violation of ``instance``, with where it is."""
    return [
        f"{e.message} at {'/'.join(map(str, e.absolute_path)) or '<root>'}"
        for e in checker.iter_errors(instance)
    ]


def _strict(node: Any) -> Any:
    """A copy of a schema tree where every object with ``properties`` forbids others."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _strict(value) for key, value in node.items()}
    if isinstance(copy.get("properties"), dict) and "additionalProperties" not in copy:
        copy["additionalProperties"] = False
    return copy


@cache
def _strict_registry() -> Registry[Any]:
    strict = _strict(_read(OPENAPI))
    return Registry().with_resource(uri(OPENAPI), Resource(contents=strict, specification=DRAFT7))


def response_validator(path: str, method: str = "get", status: int = 200) -> Draft7Validator:
    """A validator for the JSON body OpenAPI declares for ``method path`` answering ``status``.

    Strict: a field the schema does not declare is a violation (Paradex's OpenAPI
    leaves ``additionalProperties`` open; the mock must not invent fields).
    """
    require(OPENAPI)
    operation = _read(OPENAPI)["paths"][path][method]
    if str(status) not in operation["responses"]:
        pytest.fail(f"OpenAPI declares no {status} response for {method.upper()} {path}")
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, method, "responses", str(status), "content",
                     "application/json", "schema")
    )  # fmt: skip
    return Draft7Validator({"$ref": f"{uri(OPENAPI)}#/{pointer}"}, registry=_strict_registry())
