"""Human output for edgectl: rich tables, one renderer per command.

Tables never cut an id (edge.cli.tables); `--wide` shows every column whole.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from edge.cli.tables import Col, cell, print_table

console = Console(highlight=False)
_wide = False


def _table(title: str, columns: list[Col | str], rows: list[list[Any]]) -> None:
    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    print_table(console, title, cols, rows, _wide)


def _status(r: dict[str, Any]) -> None:
    em = r["emergency"]
    console.print(
        f"[bold]{r['site']}/{r['gateway']}[/bold]  up {r['uptime_s']:.0f} s  "
        f"config v{r['config_version']} ({r['config_path']})  now {r['now']}"
    )
    console.print(
        f"devices: {r['devices_online']}/{r['devices_configured']} online"
        + (f"  offline: {', '.join(r['devices_offline'])}" if r["devices_offline"] else "")
    )
    up = r.get("uplink", {})
    if up.get("running"):
        state = "connected" if up["connected"] else "[red]DISCONNECTED[/red]"
        oldest = f", oldest {up['oldest_age_s']:.0f} s" if up.get("oldest_age_s") else ""
        error = f", last error: {up['last_error']}" if up.get("last_error") else ""
        console.print(
            f"uplink: {state} to {up['broker']} (session {up['session']}), "
            f"outbox {up['outbox_depth']}{oldest}{error}"
        )
    console.print(f"alarms open: {r.get('alarms_open', 0)}")
    console.print(
        "emergency: " + (f"[red]ACTIVE since {em['since']}[/red]" if em["active"] else "normal")
    )
    console.print(
        f"bookings: {r['bookings']['count']} (version {r['bookings']['version']})   "
        f"writes: {r['writes']['total']} ({r['writes']['failed']} failed)"
    )
    _table(
        "buses",
        [
            Col("bus", "id"),
            Col("link", "text", 4),
            Col("up", keep=8),
            Col("transactions", keep=2),
            Col("errors", keep=6),
            Col("timeouts", keep=3),
            Col("reconnects", keep=3),
            Col("avg ms", keep=4),
            Col("max ms", keep=2),
            Col("poll", keep=5),
        ],
        [
            [
                n,
                b["link"],
                "yes" if b["connected"] else "NO",
                b["transactions"],
                b["errors"],
                b["timeouts"],
                b["reconnects"],
                b["latency_avg_ms"],
                b["latency_max_ms"],
                _poll_ratio(b.get("poll")),
            ]
            for n, b in r["buses"].items()
        ],
    )
    _table(
        "components",
        [
            Col("component", "id"),
            Col("ready", keep=8),
            Col("restarts", keep=6),
            Col("last error", "text", 7),
        ],
        [
            [n, "yes" if c["ready"] else "NO", c["restarts"], c["last_error"]]
            for n, c in r["components"].items()
        ],
    )
    if r["database"]["recovered_from"]:
        console.print(f"[red]database was corrupt and moved to {r['database']['recovered_from']}")


def _poll_ratio(poll: dict[str, dict[str, Any]] | None) -> str | None:
    """The slowest device's achieved poll period over its configured one (1.00x: on time)."""
    ratios = [
        p["achieved_s"] / p["configured_s"]
        for p in (poll or {}).values()
        if p.get("achieved_s") and p.get("configured_s")
    ]
    return f"{max(ratios):.2f}x" if ratios else None


def _explain(r: dict[str, Any]) -> None:
    console.print(
        f"[bold]{r['output']}[/bold] = {r.get('value')!r}  (device reads {r['read_back']!r})"
    )
    console.print(
        f"  level: {r.get('level')}  cause: {r.get('cause')}\n"
        f"  since: {cell(r.get('since'))}  until: {cell(r.get('until'))}"
    )
    if r.get("detail"):
        console.print(f"  detail: {r['detail']}")
    for lv in r.get("levels", [])[1:]:
        console.print(f"  overridden: {lv['level']} wants {lv['value']!r} ({lv['cause']})")


def _modbus(r: dict[str, Any]) -> None:
    """A raw read or write: how the link was reached, then each item's 1-based
    reference, protocol address and value."""
    if r.get("via") == "edged":
        poll = ""
        if r.get("poll_configured_s") is not None:
            achieved = r.get("poll_achieved_s")
            got = f" (achieved {achieved:.2f} s)" if achieved is not None else ""
            poll = f"; its polls every {r['poll_configured_s']:g} s{got}"
        console.print(f"{r['device']} via edged's bus {r['bus']}{poll}")
    else:
        console.print(r.get("note") or "opened the link directly")
    console.print(f"link: {r.get('link', '-')}")
    if r.get("point"):
        unit = f" {r['unit']}" if r.get("unit") else ""
        console.print(f"{r['point']} = {r.get('value')!r}{unit}")
    first = int(r.get("address", 0))
    bits = r.get("table") in ("coil", "discrete")
    rows = [
        [first + 1 + n, first + n, v, None if bits else f"0x{int(v):04X}"]
        for n, v in enumerate(r["values"])
    ]
    verb = "wrote" if r.get("written") or "requested" in r else "read"
    _table(
        f"{verb} {r.get('table', '')}",
        [Col("reference", "id"), Col("address", "id"), Col("value", "id"), Col("hex", keep=3)],
        rows,
    )
    if r.get("forced_outputs"):
        console.print(
            f"forced: {', '.join(r['forced_outputs'])} (the reconciler writes its own "
            "value again at its next change)"
        )
    if "verified" in r:
        console.print(f"read back: {r.get('read_back')!r}  verified: {r['verified']}")


def render(cmd: str, r: Any, wide: bool = False) -> None:
    global _wide
    _wide = wide
    if cmd == "status":
        _status(r)
    elif cmd == "explain":
        _explain(r)
    elif cmd == "devices":
        _table(
            "devices",
            [
                Col("device", "id"),
                Col("profile", keep=3),
                Col("bus", "id"),
                Col("unit", keep=4),
                Col("zone", "id"),
                Col("online", keep=9),
            ],
            [
                [
                    d["id"],
                    d["profile"],
                    d["bus"],
                    d["unit_id"],
                    d["zone"],
                    {True: "yes", False: "NO", None: "?"}[d["online"]],
                ]
                for d in r
            ],
        )
    elif cmd == "points":
        _table(
            "points",
            [
                Col("point", "id"),
                Col("value", "text", 9),
                Col("quality", keep=7),
                Col("time", keep=3),
            ],
            [[p["point"], p["value"], p["quality"], p["ts"]] for p in r],
        )
    elif cmd == "journal":
        _table(
            "journal (newest first)",
            [
                Col("time", keep=8),
                Col("kind", keep=6),
                Col("subject", "id"),
                Col("zone", keep=2),
                Col("booking", "id"),
                Col("by", keep=4),
                Col("what", "text", 7),
            ],
            [
                [
                    e["ts"],
                    e["kind"],
                    e["subject"],
                    e["zone"],
                    e["booking"],
                    e["actor"],
                    ", ".join(f"{k}={v}" for k, v in e["body"].items() if v is not None),
                ]
                for e in r
            ],
        )
    elif cmd == "alarms":
        _table(
            "open alarms",
            [
                Col("alarm", "id"),
                Col("zone", "id"),
                Col("severity", keep=6),
                Col("state", keep=7),
                Col("since", keep=4),
                Col("message", "text", 5),
            ],
            [
                [
                    a.get("alarm_id"),
                    a.get("zone"),
                    a.get("severity"),
                    a.get("state"),
                    a.get("raised_at"),
                    a.get("message"),
                ]
                for a in r
            ],
        )
    elif cmd == "counters":
        _table(
            "counters",
            [Col("output", "id"), *sorted({k for v in r.values() for k in v})],
            [
                [o, *[v.get(k) for k in sorted({k for x in r.values() for k in x})]]
                for o, v in sorted(r.items())
            ],
        )
    elif cmd == "access":
        _table(
            "access decisions (newest first)",
            [
                Col("time", keep=8),
                Col("gate", "id"),
                Col("granted", keep=9),
                Col("reason", "text", 7),
                Col("pass", "id"),
                Col("booking", "id"),
                Col("kind", keep=3),
                Col("ms", keep=2),
            ],
            [
                [
                    a["ts"],
                    a["gate"],
                    "yes" if a["granted"] else "NO",
                    a["reason"],
                    a["pass_id"],
                    a["booking"],
                    a["kind"],
                    a["latency_ms"],
                ]
                for a in r
            ],
        )
    elif cmd == "bookings":
        _table(
            "bookings",
            [
                Col("booking", "id"),
                Col("zone", "id"),
                Col("start", keep=8),
                Col("end", keep=7),
                Col("status", keep=6),
                Col("v", keep=1),
            ],
            [
                [b["booking_id"], b["zone"], b["start"], b["end"], b["status"], b["version"]]
                for b in r
            ],
        )
    elif cmd == "modbus" and isinstance(r, dict) and "values" in r:
        _modbus(r)
    elif cmd == "modbus" and isinstance(r, list):
        _table(
            "units that answered",
            [Col("unit id", "id"), Col("note", "text")],
            [
                [h["unit_id"], f"exception {h['exception_code']}" if h["exception_code"] else ""]
                for h in r
            ],
        )
    elif isinstance(r, dict):
        for k, v in r.items():
            console.print(f"{k}: {v}")
    else:
        console.print(r)
