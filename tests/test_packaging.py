"""What a wheel (and so `pip install` and the Docker image) would ship."""

from __future__ import annotations

from pathlib import Path

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
