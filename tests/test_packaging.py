"""What a wheel (and so `pip install` and the Docker image) would ship."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from setuptools.config.pyprojecttoml import load_file

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_of_the_source_tree_is_listed_for_the_wheel() -> None:
    """Each directory of mockserver/ with an __init__.py is in [tool.setuptools] packages."""
    listed = set(load_file(ROOT / "pyproject.toml")["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "mockserver").rglob("__init__.py")
    }
    assert found - listed == set()


@pytest.mark.parametrize(
    "module",
    [
        "mockserver.threaded",
        "mockserver.scenario.model",
        "mockserver.faults",
        "mockserver.market.runtime",
        "mockserver.control",
        "mockserver.rest",
    ],
)
def test_a_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """No import cycle: each entry point a user may import first works on its own."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
