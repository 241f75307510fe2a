"""Socket-level fuzzing for a few seconds (``bench.fuzz``; ``python -m bench.fuzz`` runs
it for longer): hostile clients send generated frames and reconnect when closed, while
a well-behaved neighbour must receive every published message, in order, on one
connection. Seeded, so a failure reproduces with ``python -m bench.fuzz --seed N``."""

from __future__ import annotations

import pytest

from bench.fuzz import FuzzReport, fuzz


def describe(report: FuzzReport) -> str:
    return (
        f"violations {report.first_violations}, server errors {report.server_errors[:5]}, "
        f"neighbour missed {report.neighbour_missed} of {report.published}, "
        f"out of order {report.neighbour_out_of_order}, closed {report.neighbour_closed}"
    )


@pytest.mark.parametrize("seed", [1, 2])
async def test_hostile_clients_never_disturb_a_neighbour(seed: int) -> None:
    """Garbage, fragments, floods, bad UTF-8, oversized frames: all answered or closed
    with the right code; the neighbour misses nothing; the server logs no error."""
    report = await fuzz(
        seconds=2.5, seed=seed, hostile=3, max_message_bytes=64 * 1024, max_queued_messages=200
    )
    assert report.ok, describe(report)
    assert report.connections >= 5
    assert sum(report.frames.values()) > 100
    assert report.neighbour_received == report.published > 0
