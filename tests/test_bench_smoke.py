"""The benchmark's smoke configuration runs end to end, so ``bench/`` cannot rot.

No performance threshold is asserted (machines vary): only that every row is
there, with figures that make sense.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE_TIMEOUT_S = 60
# Run from the repository root, where ``bench`` is a package (it is not installed).
BENCH = [sys.executable, "-m", "bench"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """``python -m bench --smoke --json FILE``: its table and its JSON."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run(
        [*BENCH, "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


def test_the_table_has_every_row(smoke: tuple[str, dict[str, Any]]) -> None:
    """Every fan-out row, replay, keepalive, deflate, memory and both ready rows are printed."""
    table, result = smoke
    for row in result["throughput"]:
        assert f"{row['name']}  " in table
    for label in (
        "fan-out, 1 ch",
        "fan-out, 3 ch",
        "replay, 1 client",
        "keepalive under full fan-out, saturated",
        "keepalive under full fan-out, paced at half the saturated rate",
        "permessage-deflate on",
        "permessage-deflate off",
        "permessage-deflate cost",
        "memory per idle connection (mock)",
        "memory per idle connection (bare)",
        "ready: in-process fixture",
        "ready: paradex-mock serve",
    ):
        assert label in table


def test_the_header_names_each_sides_cpus(smoke: tuple[str, dict[str, Any]]) -> None:
    """The header gives os.cpu_count() and the affinity of the server and client processes."""
    header = smoke[1]["header"]
    assert header["cpu_count"] >= 1
    assert header["server_affinity"]
    assert header["client_affinity"]


def test_every_throughput_row_has_both_figures_and_their_ratio(
    smoke: tuple[str, dict[str, Any]],
) -> None:
    """Each fan-out row and replay carries bare and mock deliveries/s and the ratio, all > 0."""
    rows = smoke[1]["throughput"]
    names = [(row["name"], row["clients"]) for row in rows]
    assert ("fan-out, 1 ch", 1) in names
    assert ("fan-out, 3 ch", 3) in names
    assert ("replay, 1 client", 1) in names
    for row in rows:
        for side in ("bare", "mock"):
            assert row[side]["deliveries_per_s"] > 0
            assert row[side]["frames"] == row[side]["expected"]
        assert row["ratio"] > 0


def test_no_client_is_dropped(smoke: tuple[str, dict[str, Any]]) -> None:
    """No run loses a client, and both keepalive runs saw pings answered by pongs."""
    result = smoke[1]
    for row in result["throughput"]:
        for side in ("bare", "mock", "bare_paced", "mock_paced"):
            if row[side] is not None:
                assert row[side]["dropped"] == 0
    for keepalive in result["keepalive"].values():
        assert keepalive["dropped"] == 0
        assert keepalive["pings_sent"] > 0
        assert keepalive["pongs_received"] > 0


def test_memory_and_ready_figures_are_there(smoke: tuple[str, dict[str, Any]]) -> None:
    """Memory per idle connection and both times to ready are positive numbers."""
    result = smoke[1]
    assert result["memory"]["mock"]["kib_per_connection"] > 0
    assert result["ready"]["in_process"]["cold_s"] > 0
    assert result["ready"]["in_process"]["warm_s"] > 0
    assert result["ready"]["serve"]["median_s"] > 0
    assert result["deflate"]["on"]["negotiated"] == result["deflate"]["clients"]
    assert result["deflate"]["off"]["negotiated"] == 0


def test_a_short_soak_churns_with_faults_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """``python -m bench.soak`` for 3 s: connections churn, and at the end every session
    is closed with no more descriptors or tasks than at the baseline."""
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", "3", "--warmup", "1", "--every", "1",
         "--workers", "10", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    result = json.loads(out.read_text())
    baseline, end = result["samples"][0], result["samples"][-1]
    assert result["churn"]["connections"] > 10
    assert end["settled"]
    assert end["sessions"] == 0
    assert end["fds"] <= baseline["fds"]
    assert end["tasks"] <= baseline["tasks"]
