"""Bundled scenarios: installed as the package mockserver.bundled_scenarios."""
