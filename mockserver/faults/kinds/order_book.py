"""Faults on the order book's consistency: sequence gaps, repeated or backwards
``seq_no``, and crossed books (paradex-ws.md §3.1, §8).

They act on notification frames whose data carries a ``seq_no`` (``order_book.*``
and ``bbo.*``), matched by ``channel`` (default ``order_book.*``), per session:
each session's own view of the stream is what the client checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from mockserver.faults.active import ActiveFault
from mockserver.faults.base import (
    Outgoing,
    ParamError,
    Subject,
    check_channel_pattern,
    register,
)
from mockserver.faults.kinds.messages import ChannelFiltered
from mockserver.protocol import dumps


@dataclass(frozen=True, kw_only=True)
class BookParams:
    channel: str = "order_book.*"  # the subscription name or glob whose frames it changes

    def __post_init__(self) -> None:
        check_channel_pattern(self.channel)


def _data(frame: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The notification and its ``data`` object, if the frame is one with a ``seq_no``."""
    try:
        message = json.loads(frame)
        data = message["params"]["data"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("seq_no"), int):
        return None
    return message, data


class SeqRewrite(ChannelFiltered):
    """The next matching frame gets a ``seq_no`` derived from the previous one's."""

    default_count = 1
    Params = BookParams

    def new_seq_no(self, previous: int) -> int:
        raise NotImplementedError

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        parsed = _data(item.frame)
        if parsed is None:
            return [item]
        message, data = parsed
        key = (session.id, item.channel)
        previous = fault.memory.get(key)
        fault.memory[key] = data["seq_no"]
        if previous is None and data.get("update_type") == "d":
            # A delta follows seq_no - 1 (paradex-ws.md §8), so the first delta the fault
            # sees can be the next frame already; a snapshot or a bbo waits for a second.
            previous = data["seq_no"] - 1
        if previous is not None and fault.fires():
            data["seq_no"] = self.new_seq_no(previous)
            item.frame = dumps(message)
        return [item]


@register
class SeqRepeat(SeqRewrite):
    """The next matching frame repeats the previous frame's ``seq_no``."""

    name = "seq_repeat"

    def new_seq_no(self, previous: int) -> int:
        return previous


@dataclass(frozen=True, kw_only=True)
class BackwardsParams(BookParams):
    by: int = 1  # how far below the previous frame's seq_no the next one is

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.by < 1:
            raise ParamError("by", f"must be at least 1, got {self.by}")


@register
class SeqBackwards(SeqRewrite):
    """The next matching frame's ``seq_no`` is ``by`` below the previous frame's."""

    name = "seq_backwards"
    Params = BackwardsParams

    def new_seq_no(self, previous: int) -> int:
        return previous - self.params.by


@dataclass(frozen=True, kw_only=True)
class GapParams(BookParams):
    skip: int = 1  # how many frames are withheld, so seq_no jumps by skip + 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.skip < 1:
            raise ParamError("skip", f"must be at least 1, got {self.skip}")


@register
class SeqGap(ChannelFiltered):
    """A sequence gap: the next ``skip`` matching frames are withheld, so ``seq_no`` jumps.

    The frames are the exchange's own, so the client's book really is missing
    those changes until it resynchronises (a real gap, not a renumbering).
    """

    name = "seq_gap"
    Params = GapParams
    default_count = 1

    def subscribed(self, fault: ActiveFault, session: Subject, name: str) -> None:
        # A subscription newer than the fault: its first frame (the snapshot, the first
        # bbo) goes through, since a gap is only visible after a frame the client has.
        fault.memory[(session.id, name)] = _Gap(fresh=True)

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        if _data(item.frame) is None:
            return [item]
        gap: _Gap = fault.memory.setdefault((session.id, item.channel), _Gap())
        if gap.fresh:
            gap.fresh = False
            return [item]
        if gap.left == 0:
            # With several sessions, a gap under way in one holds one of the count: a
            # gap starts only if the count has room, so none is cut short when it ends.
            open_gaps = sum(1 for g in fault.memory.values() if g.left)
            if fault.remaining is not None and fault.remaining <= open_gaps:
                return [item]
            if not fault.draw():
                return [item]
            gap.left = self.params.skip
        gap.left -= 1
        if gap.left == 0:
            fault.spend()
        return []


@dataclass
class _Gap:
    """One session's subscription as ``seq_gap`` sees it."""

    left: int = 0  # frames still to withhold
    fresh: bool = False  # subscribed after the fault started, no frame seen yet


def _bump(price: str, factor: Decimal) -> str:
    """``price`` times ``factor``, written with as many decimals as ``price``, and moved
    by at least one unit of its last place."""
    value = Decimal(price)
    unit = Decimal(1).scaleb(value.as_tuple().exponent)  # type: ignore[arg-type]
    moved = (value * factor).quantize(unit)
    if moved == value:
        moved = value + unit if factor > 1 else value - unit
    return str(moved)


@register
class CrossedBook(ChannelFiltered):
    """The next matching frame shows a crossed book: a bid above the best ask.

    On ``order_book.*`` a BUY level is inserted above the highest ask the frame
    carries (or a SELL below its lowest bid); on ``bbo.*`` bid and ask swap.
    """

    name = "crossed_book"
    Params = BookParams
    default_count = 1

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        parsed = _data(item.frame)
        if parsed is None:
            return [item]
        message, data = parsed
        try:
            crossed = _cross(data)
        except (InvalidOperation, KeyError, TypeError, ValueError):
            crossed = False
        if crossed and fault.fires():
            item.frame = dumps(message)
        return [item]


def _cross(data: dict[str, Any]) -> bool:
    """Make ``data`` crossed in place; False if the frame has nothing to cross."""
    if "bid" in data and "ask" in data:
        if data["bid"] is None or data["ask"] is None:
            return False
        data["bid"], data["ask"] = data["ask"], data["bid"]
        data["bid_size"], data["ask_size"] = data.get("ask_size"), data.get("bid_size")
        return Decimal(data["bid"]) > Decimal(data["ask"])
    levels = [*data.get("inserts", []), *data.get("updates", [])]
    asks = [lv for lv in levels if lv.get("side") == "SELL" and Decimal(lv["size"]) > 0]
    bids = [lv for lv in levels if lv.get("side") == "BUY" and Decimal(lv["size"]) > 0]
    if asks:
        top = max(asks, key=lambda lv: Decimal(lv["price"]))
        level = {"side": "BUY", "price": _bump(top["price"], Decimal("1.001")), "size": top["size"]}
    elif bids:
        low = min(bids, key=lambda lv: Decimal(lv["price"]))
        level = {
            "side": "SELL",
            "price": _bump(low["price"], Decimal("0.999")),
            "size": low["size"],
        }
    else:
        return False
    data.setdefault("inserts", []).append(level)
    return True
