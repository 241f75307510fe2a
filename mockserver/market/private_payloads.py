"""Payloads of the account-driven private channels (paradex-ws.md §3.2).

One builder per family, each returning exactly the members of its AsyncAPI
schema (``components.schemas``, which set ``additionalProperties: false``):

==================  ================================  =====================
family              schema                            builder
==================  ================================  =====================
account             ResponsesAccountSummaryResponse   :func:`account`
balance_events      ResponsesBalanceEventResponse     :func:`balance_event`
fills               ResponsesFillResult               :func:`fill`
funding_payments    ResponsesFundingPayment           :func:`funding_payment`
orders              ResponsesOrderResp                :func:`order`
positions           ResponsesPositionResp             :func:`position`
==================  ================================  =====================

Every required member is always present. Optional members: ``fills`` carries
``orderbook_seq_no`` (we know it); ``positions`` carries ``created_at`` and
``last_updated_at``, and ``closed_at`` once the position is CLOSED; ``orders``
never carries ``request_info`` (it answers ``modify_order``, which the
simulated account never sends).

Decimals are strings (:func:`dec`: plain notation, no exponent, no trailing
zeros, ``"0"`` for zero); timestamps are integer milliseconds. The builders
format, they do not compute: the numbers come from ``accounts.py``.

Where the schema and what Paradex was seen sending disagree, or where neither
says, the choice made is listed in :data:`DEVIATIONS`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mockserver.market.model import Side

SETTLEMENT_ASSET = "USDC"
# Synthetic: an L2 address of the right shape, not Paradex's real USDC contract.
SETTLEMENT_ASSET_ADDRESS = "0x7348407ebad690fec0cc8597e87dc16ef7b269a655ff72587dafff83d462be2"
BALANCE_STATUS = "ON_BLOCKCHAIN"  # the schema's example; the only status we know

# (family, field, what the schema / a live capture says, what the mock sends, why)
DEVIATIONS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "orders",
        "seq_no, stp, timestamp, received_at, published_at, trigger_price",
        "absent from the live capture (paradex-ws.md §3.2, 2023)",
        "present",
        "the current schema requires them; the capture predates them",
    ),
    (
        "orders",
        "cancel_reason",
        "schema example NOT_ENOUGH_MARGIN",
        '"" unless cancelled, then USER_CANCELED (or POST_ONLY_WOULD_CROSS)',
        "live capture sends an empty string for an uncancelled order",
    ),
    (
        "orders",
        "instruction",
        "GTC in the live capture",
        "POST_ONLY",
        "the simulated account only ever rests maker orders",
    ),
    (
        "orders",
        "flags",
        "array of OrderFlag",
        "[]",
        "live capture shows a list; plain resting orders carry no flag",
    ),
    (
        "orders",
        "avg_fill_price",
        "example 26000 (on a NEW order in the capture)",
        '"" until the first fill',
        "UNCONFIRMED; an unfilled order has no average",
    ),
    (
        "orders",
        "trigger_price",
        "example 26000",
        '"0"',
        "UNCONFIRMED; a LIMIT order has no trigger (price is '0' for MARKET orders too)",
    ),
    (
        "orders",
        "stp",
        "enum, no default given",
        "EXPIRE_TAKER",
        "Paradex's documented default self-trade prevention",
    ),
    (
        "fills",
        "side",
        'description "Taker side"',
        "the account's own order side (opposite the taker for a MAKER fill)",
        "what clients (ccxt) read it as; the brief of issue 3 asks for it",
    ),
    (
        "fills",
        "flags",
        "FillFlag array (interactive, rpi, fastfill)",
        "[]",
        "API-placed resting orders carry none of those flags",
    ),
    (
        "balance_events",
        "type",
        "example TRANSACTION_FILL only",
        "TRANSACTION_FILL for fills, FUNDING_PAYMENT for funding",
        "UNCONFIRMED: Paradex lists no other type names",
    ),
    (
        "balance_events / funding_payments",
        "fill_id",
        "the fill that triggered the payment",
        '"" for a funding payment',
        "the mock settles funding on each funding tick, not on a fill",
    ),
    (
        "account",
        "last_seen_notification",
        "example 1713400000000",
        "0",
        "the simulated user has seen no notification",
    ),
    (
        "account",
        "account",
        "example is a decimal integer",
        "the JWT's sub as given (usually 0x hex)",
        "live captures show 0x addresses",
    ),
)


def dec(value: Decimal) -> str:
    """A decimal as Paradex writes it: plain notation, no trailing zeros, ``"0"`` for zero."""
    if value.is_zero():
        return "0"
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def account(
    *,
    address: str,
    account_value: Decimal,
    free_collateral: Decimal,
    initial_margin_requirement: Decimal,
    maintenance_margin_requirement: Decimal,
    margin_cushion: Decimal,
    total_collateral: Decimal,
    updated_at: int,
    seq_no: int,
    status: str = "ACTIVE",
    last_seen_notification: int = 0,
) -> dict[str, Any]:
    """An ``account`` payload (ResponsesAccountSummaryResponse)."""
    return {
        "account": address,
        "account_value": dec(account_value),
        "free_collateral": dec(free_collateral),
        "initial_margin_requirement": dec(initial_margin_requirement),
        "maintenance_margin_requirement": dec(maintenance_margin_requirement),
        "margin_cushion": dec(margin_cushion),
        "settlement_asset": SETTLEMENT_ASSET,
        "status": status,
        "total_collateral": dec(total_collateral),
        "updated_at": updated_at,
        "seq_no": seq_no,
        "last_seen_notification": last_seen_notification,
    }


def balance_event(
    *,
    type: str,
    fill_id: str,
    market: str,
    balance_before: Decimal,
    balance_after: Decimal,
    funding_index: Decimal,
    realized_pnl: Decimal,
    fees: Decimal,
    realized_funding: Decimal,
    created_at: int,
    settlement_asset_price: Decimal = Decimal(1),
) -> dict[str, Any]:
    """A ``balance_events`` payload (ResponsesBalanceEventResponse).

    ``balance_after = balance_before + realized_pnl - fees + realized_funding``.
    """
    return {
        "type": type,
        "fill_id": fill_id,
        "market": market,
        "status": BALANCE_STATUS,
        "settlement_asset_name": SETTLEMENT_ASSET,
        "settlement_asset_address": SETTLEMENT_ASSET_ADDRESS,
        "settlement_asset_balance_before": dec(balance_before),
        "settlement_asset_balance_after": dec(balance_after),
        "settlement_asset_price": dec(settlement_asset_price),
        "funding_index": dec(funding_index),
        "realized_pnl": dec(realized_pnl),
        "fees": dec(fees),
        "realized_funding": dec(realized_funding),
        "created_at": created_at,
    }


def fill(
    *,
    id: str,
    address: str,
    market: str,
    side: Side,
    liquidity: str,
    order_id: str,
    client_id: str,
    price: str,
    size: str,
    remaining_size: str,
    fee: Decimal,
    realized_pnl: Decimal,
    realized_funding: Decimal,
    underlying_price: str,
    created_at: int,
    orderbook_seq_no: int,
    fill_type: str = "FILL",
) -> dict[str, Any]:
    """A ``fills`` payload (ResponsesFillResult); ``fee`` < 0 is a rebate."""
    return {
        "id": id,
        "side": side,
        "liquidity": liquidity,
        "market": market,
        "order_id": order_id,
        "price": price,
        "size": size,
        "fee": dec(fee),
        "fee_currency": SETTLEMENT_ASSET,
        "created_at": created_at,
        "remaining_size": remaining_size,
        "client_id": client_id,
        "fill_type": fill_type,
        "realized_pnl": dec(realized_pnl),
        "realized_funding": dec(realized_funding),
        "account": address,
        "underlying_price": underlying_price,
        "flags": [],
        "orderbook_seq_no": orderbook_seq_no,
    }


def funding_payment(
    *,
    id: str,
    address: str,
    market: str,
    payment: Decimal,
    index: Decimal,
    fill_id: str,
    created_at: int,
) -> dict[str, Any]:
    """A ``funding_payments`` payload (ResponsesFundingPayment); ``payment`` > 0 is received."""
    return {
        "id": id,
        "account": address,
        "market": market,
        "payment": dec(payment),
        "index": dec(index),
        "fill_id": fill_id,
        "created_at": created_at,
    }


def order(
    *,
    id: str,
    address: str,
    market: str,
    side: Side,
    size: str,
    remaining_size: str,
    price: str,
    status: str,
    created_at: int,
    last_updated_at: int,
    published_at: int,
    client_id: str,
    seq_no: int,
    avg_fill_price: str,
    cancel_reason: str = "",
    type: str = "LIMIT",
    instruction: str = "POST_ONLY",
    stp: str = "EXPIRE_TAKER",
    trigger_price: str = "0",
) -> dict[str, Any]:
    """An ``orders`` payload (ResponsesOrderResp), without the optional ``request_info``."""
    return {
        "id": id,
        "account": address,
        "market": market,
        "side": side,
        "type": type,
        "size": size,
        "remaining_size": remaining_size,
        "price": price,
        "status": status,
        "created_at": created_at,
        "last_updated_at": last_updated_at,
        "timestamp": created_at,  # the order's signature time: when it was created
        "cancel_reason": cancel_reason,
        "client_id": client_id,
        "seq_no": seq_no,
        "instruction": instruction,
        "avg_fill_price": avg_fill_price,
        "stp": stp,
        "received_at": created_at,
        "published_at": published_at,
        "flags": [],
        "trigger_price": trigger_price,
    }


def position(
    *,
    id: str,
    address: str,
    market: str,
    status: str,
    side: str,
    size: str,
    average_entry_price: str,
    average_exit_price: str,
    unrealized_pnl: Decimal,
    unrealized_funding_pnl: Decimal,
    cost: Decimal,
    cached_funding_index: Decimal,
    last_fill_id: str,
    seq_no: int,
    liquidation_price: str,
    leverage: str,
    realized_positional_pnl: Decimal,
    realized_positional_funding_pnl: Decimal,
    created_at: int,
    last_updated_at: int,
    closed_at: int | None = None,
) -> dict[str, Any]:
    """A ``positions`` payload (ResponsesPositionResp); ``closed_at`` only once CLOSED.

    USD members equal the USDC ones (the mock prices USDC at 1).
    """
    payload: dict[str, Any] = {
        "id": id,
        "account": address,
        "market": market,
        "status": status,
        "side": side,
        "size": size,
        "average_entry_price": average_entry_price,
        "average_entry_price_usd": average_entry_price,
        "average_exit_price": average_exit_price,
        "unrealized_pnl": dec(unrealized_pnl),
        "unrealized_funding_pnl": dec(unrealized_funding_pnl),
        "cost": dec(cost),
        "cost_usd": dec(cost),
        "cached_funding_index": dec(cached_funding_index),
        "last_fill_id": last_fill_id,
        "seq_no": seq_no,
        "liquidation_price": liquidation_price,
        "leverage": leverage,
        "realized_positional_pnl": dec(realized_positional_pnl),
        "realized_positional_funding_pnl": dec(realized_positional_funding_pnl),
        "created_at": created_at,
        "last_updated_at": last_updated_at,
    }
    if closed_at is not None:
        payload["closed_at"] = closed_at
    return payload
