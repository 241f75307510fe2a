"""Bundled scenarios (installed as mockserver.scenarios)."""
