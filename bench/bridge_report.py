"""The tables of bench/bridge.py, from its results document (the JSON it writes with --json).

`report(doc)` is all the printed output: the machine, one table per device count (ranges
over the runs, ratios edged / modbus2mqtt and edged / bare taken within each run, so both
sides saw the same machine load), the issue's summary when several device counts ran, and
edged's start-up figures. `bench/bridge.py --report FILE.json` prints it again.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

PEERS = ("edged", "modbus2mqtt", "bare")
TITLES = {"edged": "edged", "modbus2mqtt": "modbus2mqtt 0.73", "bare": "bare poller"}

Result = dict[str, Any]
Get = Callable[[Result], Any]


def span(values: list[Any], digits: int | None = None) -> str:
    """`lo-hi` over the values (one number when they print alike); `digits=None` keeps about
    three significant figures of the largest."""
    xs = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not xs:
        return "n/a"
    if digits is None:
        top = max(abs(x) for x in xs)
        digits = 0 if top >= 100 else 1 if top >= 10 else 2 if top >= 1 else 3
    lo, hi = f"{min(xs):.{digits}f}", f"{max(xs):.{digits}f}"
    return lo if lo == hi else f"{lo} to {hi}" if min(xs) < 0 else f"{lo}-{hi}"


# label, figure, decimals (None: three significant figures), with ratios
ROWS: list[tuple[str, Get, int | None, bool]] = [
    ("CPU (% of one core)", lambda r: r["cpu_pct"], 2, True),
    ("RSS steady (MiB)", lambda r: r["rss_mib"], 1, True),
    ("achieved poll period p95 (s)", lambda r: r["poll_p95_s"], 3, False),
    ("change -> MQTT p50 (ms)", lambda r: r["change_p50_ms"], 0, False),
    ("change -> MQTT p95 (ms)", lambda r: r["change_p95_ms"], 0, False),
    ("change -> MQTT p99 (ms)", lambda r: r["change_p99_ms"], 0, True),
    ("read -> MQTT p50 (ms), field's read time", lambda r: r["read_p50_ms"], None, True),
    ("read -> MQTT p50 (ms), peer's own read time", lambda r: r["peer_read_p50_ms"], None, False),
    ("unchanged values republished per s", lambda r: r["unchanged_per_s"], 1, False),
    ("missed changes", lambda r: r["missed"], 0, False),
    ("changes in the window", lambda r: r["changes"], 0, False),
    ("values received per s", lambda r: r["values_per_s"], 1, False),
]


def _per_peer(results: list[Result], devices: int) -> dict[str, list[Result]]:
    out: dict[str, list[Result]] = {}
    for r in results:
        if r["devices"] == devices:
            out.setdefault(r["peer"], []).append(r)
    return out


def _ratio(by_peer: dict[str, list[Result]], a: str, b: str, get: Get) -> str:
    """a / b per run, as a range over the runs."""
    if a not in by_peer or b not in by_peer:
        return ""
    other = {r["run"]: get(r) for r in by_peer[b]}
    ratios = [
        get(r) / other[r["run"]]
        for r in by_peer[a]
        if r["run"] in other and get(r) is not None and other[r["run"]] not in (None, 0)
    ]
    return span(ratios)


def table(results: list[Result], devices: int, settings: dict[str, Any]) -> str:
    by_peer = _per_peer(results, devices)
    names = [p for p in PEERS if p in by_peer]
    runs = max(len(v) for v in by_peer.values())
    head = [f"at {settings['poll']:g} s polling, {devices} devices"] + [TITLES[p] for p in names]
    head += ["edged / modbus2mqtt", "edged / bare"]
    lines = [
        f"{devices} devices x {settings['registers']} holding registers, {runs} run(s) x"
        f" {settings['window']:g} s (ranges over the runs; ratios taken within each run)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for label, get, digits, with_ratio in ROWS:
        cells = [span([get(r) for r in by_peer[p]], digits) for p in names]
        ratios = ["", ""]
        if with_ratio:
            ratios = [
                _ratio(by_peer, "edged", "modbus2mqtt", get),
                _ratio(by_peer, "edged", "bare", get),
            ]
        lines.append("| " + " | ".join([label, *cells, *ratios]) + " |")
    every = [r for p in names for r in by_peer[p]]
    load = ", ".join(r["loadavg_before"].split()[0] for r in every)
    before = [r.get("busy_before_pct", math.nan) for r in every]
    others = [max(0.0, r["others_pct"]) for r in every]  # below 0 only by tick rounding
    lines += [
        "",
        f"Machine: 1-min load average before each measurement {load}; CPU use of the whole"
        f" machine just before {span(before, 0)} % of one core; during the windows, other"
        " processes (not the peer, the field, mosquitto or the subscriber) took"
        f" {span(others, 1)} % of one core; the field itself"
        f" {span([r['field_cpu_pct'] for r in every], 1)} %, mosquitto and the subscriber"
        f" {span([r['broker_cpu_pct'] for r in every], 1)} %.",
    ]
    return "\n".join(lines)


def summary(results: list[Result], small: int, large: int, poll: float) -> str:
    """The issue's table: CPU at both counts, the rest at the larger one."""
    lo, hi = _per_peer(results, small), _per_peer(results, large)
    names = [p for p in PEERS if p in hi]

    def cell(by: dict[str, list[Result]], p: str, key: str, digits: int) -> str:
        return span([r[key] for r in by.get(p, [])], digits)

    def both(p: str, key: str) -> str:
        return cell(lo, p, key, 0) + " / " + cell(hi, p, key, 0)

    rows = [
        (f"CPU, {small} devices (% of one core)", [cell(lo, p, "cpu_pct", 2) for p in names]),
        (f"CPU, {large} devices", [cell(hi, p, "cpu_pct", 2) for p in names]),
        (f"RSS steady, {large} devices (MiB)", [cell(hi, p, "rss_mib", 1) for p in names]),
        (
            f"achieved poll period p95, {large} devices (s)",
            [cell(hi, p, "poll_p95_s", 3) for p in names],
        ),
        (
            f"change -> MQTT p99, {small} / {large} devices (ms)",
            [both(p, "change_p99_ms") for p in names],
        ),
        (f"read -> MQTT p50, {large} devices (ms)", [cell(hi, p, "read_p50_ms", 1) for p in names]),
        (
            f"unchanged values republished per s, {large} devices",
            [cell(hi, p, "unchanged_per_s", 1) for p in names],
        ),
        (f"missed changes, {small} / {large} devices", [both(p, "missed") for p in names]),
    ]
    head = [f"at {poll:g} s polling"] + [TITLES[p] for p in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([label, *cells]) + " |" for label, cells in rows]
    return "\n".join(lines)


def startup_lines(results: list[Result], imports: list[float]) -> list[str]:
    out = []
    for n in sorted({r["devices"] for r in results if r["peer"] == "edged"}):
        runs = [r for r in results if r["peer"] == "edged" and r["devices"] == n]
        out.append(
            f"edged start -> READY, {n} devices: {span([r['exec_to_ready_s'] for r in runs], 2)} s"
            f" from exec (READY=1 on $NOTIFY_SOCKET), {span([r['startup_s'] for r in runs], 3)} s"
            " of component start (its `ready` log line)"
        )
    if imports:
        out.append(
            "import of the daemon (edge.edged.load, compiled bytecode): median"
            f" {1000 * statistics.median(imports):.0f} ms"
            f" (range {span([1000 * t for t in imports], 0)} ms"
            f" over {len(imports)} fresh interpreters)"
        )
    return out


def report(doc: dict[str, Any]) -> str:
    box, settings, results = doc["machine"], doc["settings"], doc["results"]
    lines = [
        f"machine: {box['cores']} cores, {box['cpu']}, {box['kernel']}, Python {box['python']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in box["versions"].items()),
        f"command: {settings['command']} (warm-up {settings['warmup']:g} s,"
        f" tail {settings['tail']:g} s)",
    ]
    counts = [n for n in settings["device_counts"] if any(r["devices"] == n for r in results)]
    for n in counts:
        lines += ["", table(results, n, settings)]
    if settings["window"] < 60 and any(r["peer"] == "edged" for r in results):
        lines += [
            "",
            "note: edged re-sends unchanged values every report_every (60 s by default);"
            f" a {settings['window']:g} s window may not contain one.",
        ]
    if len(counts) > 1:
        small, large = min(counts), max(counts)
        lines += ["", f"Summary ({small} and {large} devices, the issue's rows):", ""]
        lines.append(summary(results, small, large, settings["poll"]))
    start = startup_lines(results, doc.get("import_edge_daemon_s", []))
    if start:
        lines += ["", *start]
    return "\n".join(lines)
