"""Human output for edgectl: rich tables, one renderer per command."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("-" if v is None else str(v) for v in r))
    console.print(t)


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
            "bus",
            "link",
            "up",
            "transactions",
            "errors",
            "timeouts",
            "reconnects",
            "avg ms",
            "max ms",
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
            ]
            for n, b in r["buses"].items()
        ],
    )
    _table(
        "components",
        ["component", "ready", "restarts", "last error"],
        [
            [n, "yes" if c["ready"] else "NO", c["restarts"], c["last_error"]]
            for n, c in r["components"].items()
        ],
    )
    if r["database"]["recovered_from"]:
        console.print(f"[red]database was corrupt and moved to {r['database']['recovered_from']}")


def _explain(r: dict[str, Any]) -> None:
    console.print(
        f"[bold]{r['output']}[/bold] = {r.get('value')!r}  (device reads {r['read_back']!r})"
    )
    console.print(
        f"  level: {r.get('level')}  cause: {r.get('cause')}  "
        f"since: {r.get('since') or '-'}  until: {r.get('until') or '-'}"
    )
    if r.get("detail"):
        console.print(f"  detail: {r['detail']}")
    for lv in r.get("levels", [])[1:]:
        console.print(f"  overridden: {lv['level']} wants {lv['value']!r} ({lv['cause']})")


def render(cmd: str, r: Any) -> None:
    if cmd == "status":
        _status(r)
    elif cmd == "explain":
        _explain(r)
    elif cmd == "devices":
        _table(
            "devices",
            ["device", "profile", "bus", "unit", "zone", "online"],
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
            ["point", "value", "quality", "time"],
            [[p["point"], p["value"], p["quality"], p["ts"]] for p in r],
        )
    elif cmd == "journal":
        _table(
            "journal (newest first)",
            ["time", "kind", "subject", "zone", "booking", "by", "what"],
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
            ["alarm", "severity", "state", "since", "message"],
            [
                [
                    a.get("alarm_id"),
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
            ["output", *sorted({k for v in r.values() for k in v})],
            [
                [o, *[v.get(k) for k in sorted({k for x in r.values() for k in x})]]
                for o, v in sorted(r.items())
            ],
        )
    elif cmd == "access":
        _table(
            "access decisions (newest first)",
            ["time", "gate", "granted", "reason", "pass", "booking", "kind", "ms"],
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
            ["booking", "zone", "start", "end", "status", "v"],
            [
                [b["booking_id"], b["zone"], b["start"], b["end"], b["status"], b["version"]]
                for b in r
            ],
        )
    elif cmd == "modbus" and isinstance(r, list):
        _table(
            "units that answered",
            ["unit id", "note"],
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
