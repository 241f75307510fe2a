"""What the benchmark publishes: real Paradex channel names on the ``empty``
scenario's markets, and a realistic payload of about 200 bytes for each family.

Every published message carries its publish time first, ``"t": time.monotonic_ns()``
(one clock system-wide on Linux), so the client process computes
publish-to-receive latency from the frame alone.
"""

from __future__ import annotations

import json
from typing import Any

MARKETS = ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP")
FAMILIES = ("trades", "bbo", "markets_summary")

# Every channel the bench may use: a family on a market, families first so that
# the first k channels spread over all three families.
CHANNELS = tuple(f"{family}.{market}" for market in MARKETS for family in FAMILIES)


def channels(count: int) -> list[str]:
    """The first ``count`` channels (1 to ``len(CHANNELS)``)."""
    if not 1 <= count <= len(CHANNELS):
        raise ValueError(f"between 1 and {len(CHANNELS)} channels, not {count}")
    return list(CHANNELS[:count])


def payload(channel: str) -> dict[str, Any]:
    """A payload of ``channel``'s family, as Paradex sends it (without the timestamp)."""
    family, market = channel.split(".", 1)
    if family == "trades":
        return {
            "id": "1764590400123450001",
            "market": market,
            "side": "BUY",
            "size": "0.153",
            "price": "97012.5",
            "created_at": 1764590400123,
            "trade_type": "FILL",
        }
    if family == "bbo":
        return {
            "market": market,
            "bid": "97012.4",
            "bid_size": "1.204",
            "ask": "97012.6",
            "ask_size": "0.881",
            "last_updated_at": 1764590400123,
            "seq_no": 182736455,
        }
    return {
        "symbol": market,
        "mark_price": "97012.51",
        "last_traded_price": "97012.5",
        "bid": "97012.4",
        "ask": "97012.6",
        "volume_24h": "1623551.12",
        "open_interest": "1204.551",
        "funding_rate": "0.0000125",
        "created_at": 1764590400123,
    }


def encoded_tail(channel: str) -> str:
    """``payload(channel)`` as JSON without its opening brace: a recorded payload
    that ``'{"t":%d,' % now + tail`` turns into a timestamped one without encoding."""
    return json.dumps(payload(channel), separators=(",", ":"))[1:]


def stamped(now_ns: int, tail: str) -> str:
    return f'{{"t":{now_ns},{tail}'
