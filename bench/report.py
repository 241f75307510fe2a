"""The table ``python -m bench`` prints: plain text, aligned, one section a measurement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The first column of every line the report prints below its headers.
KEEPALIVE = "keepalive under full fan-out"
DEFLATE_ON, DEFLATE_OFF = "permessage-deflate on", "permessage-deflate off"
DEFLATE_COST = "permessage-deflate cost"
MEMORY = "memory per idle connection"
READY_IN_PROCESS = "ready: in-process fixture"
READY_SERVE = "ready: paradex-mock serve"


def columns(rows: Sequence[Sequence[str]], *, right_from: int = 1) -> list[str]:
    """``rows`` as aligned lines: the first ``right_from`` columns flush left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if i < right_from else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


# A run whose client process used this share of its core or more measured the client.
CLIENT_BOUND_SHARE = 0.9


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def throughput(run: dict[str, Any]) -> str:
    """Deliveries/s, starred when the client process was the bottleneck."""
    star = "*" if run["client_cpu_share"] >= CLIENT_BOUND_SHARE else ""
    return rate(run["deliveries_per_s"]) + star


def ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def latency(run: dict[str, Any] | None) -> str:
    if run is None:
        return "-"
    lat = run["latency_ms"]
    if lat["p50"] is None:
        return "-"
    return f"{ms(lat['p50'])}/{ms(lat['p99'])}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def throughput_lines(rows: list[dict[str, Any]]) -> list[str]:
    table = [
        [
            "row",
            "clients",
            "ch",
            "bare deliv/s",
            "mock deliv/s",
            "mock/bare",
            "lat bare",
            "lat mock",
            "paced at msg/s/ch",
            "paced lat bare",
            "paced lat mock",
            "dropped",
            "other cpu",
        ]
    ]
    for row in rows:
        bare, mock = row["bare"], row["mock"]
        paced = row["bare_paced"]
        dropped = sum(
            run["dropped"]
            for run in (bare, mock, row["bare_paced"], row["mock_paced"])
            if run is not None
        )
        table.append(
            [
                row["name"],
                str(row["clients"]),
                str(row["channels"]),
                throughput(bare),
                throughput(mock),
                ratio(row["ratio"]),
                latency(bare),
                latency(mock),
                rate(paced["rate"]) if paced else "-",
                latency(paced),
                latency(row["mock_paced"]),
                str(dropped),
                f"{max(bare['other_cpu_share'], mock['other_cpu_share']):.0%}",
            ]
        )
    return columns(table, right_from=1)


def seconds_ms(summary: dict[str, Any]) -> str:
    if summary["p99"] is None:
        return "no readings"
    return f"p99 {summary['p99'] * 1e3:.1f} ms, max {summary['max'] * 1e3:.1f} ms"


def keepalive_lines(keepalive: dict[str, Any]) -> list[list[str]]:
    """One keepalive run: its load, then how late pings were and whether anyone dropped."""
    load = "paced at half the saturated rate" if keepalive["paced"] else "saturated"
    return [
        [
            f"{KEEPALIVE}, {load}",
            f"{keepalive['clients']} clients, {keepalive['seconds']:.1f} s at "
            f"{rate(keepalive['deliveries_per_s'])} deliv/s, ping every "
            f"{keepalive['ping_interval_s']:g} s",
        ],
        ["  ping lateness, server", seconds_ms(keepalive["server_lateness_s"])],
        ["  ping lateness, client", seconds_ms(keepalive["client_lateness_s"])],
        ["  ping round trip, server", seconds_ms(keepalive["round_trip_s"])],
        [
            "  CPU share server / client",
            f"{keepalive['server_cpu_share']:.2f} / {keepalive['client_cpu_share']:.2f}",
        ],
        [
            "  pings / pongs / dropped",
            f"{keepalive['pings_sent']} sent, {keepalive['pongs_received']} pongs, "
            f"{keepalive['dropped']} clients dropped {keepalive['close_codes'] or ''}".rstrip(),
        ],
    ]


def other_lines(result: dict[str, Any]) -> list[str]:
    deflate, memory, ready = result["deflate"], result["memory"], result["ready"]
    rows = [*keepalive_lines(result["keepalive"]["saturated"])]
    rows += keepalive_lines(result["keepalive"]["paced"])
    for label, key in ((DEFLATE_ON, "on"), (DEFLATE_OFF, "off")):
        run = deflate[key]
        rows.append(
            [
                label,
                f"{deflate['clients']} clients offering it, {run['negotiated']} accepted: "
                f"{rate(run['deliveries_per_s'])} deliv/s, "
                f"{run['server_cpu_us_per_delivery']:.1f} µs server CPU per delivery",
            ]
        )
    rows.append(
        [
            DEFLATE_COST,
            f"+{deflate['extra_cpu_us_per_delivery']:.1f} µs server CPU per message per client; "
            f"throughput on/off {ratio(deflate['throughput_ratio_on_off'])}",
        ]
    )
    for kind in ("mock", "bare"):
        figures = memory[kind]
        rows.append(
            [
                f"{MEMORY} ({kind})",
                f"{figures['kib_per_connection']:.1f} KiB ({memory['connections']:,} subscribed: "
                f"RSS {figures['rss_before_bytes'] / 2**20:.1f} -> "
                f"{figures['rss_after_bytes'] / 2**20:.1f} MiB)",
            ]
        )
    in_process, serve = ready["in_process"], ready["serve"]
    repeats = result["header"]["settings"]
    rows += [
        [
            READY_IN_PROCESS,
            f"cold {in_process['cold_s'] * 1e3:.1f} ms, warm {in_process['warm_s'] * 1e3:.1f} ms"
            f" (median of {repeats['ready_repeats']})",
        ],
        [
            READY_SERVE,
            f"{serve['median_s'] * 1e3:.0f} ms to 200 on /health "
            f"(median of {repeats['serve_repeats']})",
        ],
    ]
    return columns(rows, right_from=1)


def header_lines(header: dict[str, Any]) -> list[str]:
    return [
        f"paradex-mock bench, {header['date']}: Python {header['python']}, "
        f"aiohttp {header['aiohttp']}, {header.get('seconds', 0):.0f} s",
        f"os.cpu_count() {header['cpu_count']}; server process on CPU "
        f"{header['server_affinity']}, client process on CPU {header['client_affinity']} "
        f"({header['client_loop']} loop); each server's publisher runs in its own process",
        f"load average (1, 5, 15 min) at start {loads(header['loadavg_at_start'])}; at end "
        f"{loads(header['loadavg_at_end'])} (well above 0 at start: something else ran)",
    ]


def loads(averages: Sequence[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in averages)


NOTES = [
    "deliv/s: frames received by all clients / (last receive - first publish); "
    "mock/bare: the two from the same run.",
    f"*: the client process used {CLIENT_BOUND_SHARE:.0%}+ of its core (client-bound).",
    "other cpu: time other processes ran on the two cores, worse of the two saturated "
    "runs (well above 0: the figures shared their cores).",
    "lat: publish-to-receive ms p50/p99, saturated (queueing included); paced: the same "
    "at half the bare ceiling's rate.",
]


def render(result: dict[str, Any]) -> str:
    lines = header_lines(result["header"])
    lines += ["", *throughput_lines(result["throughput"]), *NOTES, ""]
    lines += other_lines(result)
    return "\n".join(lines) + "\n"
