"""Side by side: edged vs modbus2mqtt 0.73 vs a bare asyncio poller, on one simulated field.

For each device count and each run, each peer in turn (one at a time: the machine has few
cores) gets a fresh set-up: a real mosquitto on a free loopback port, a `mosquitto_sub`
recording the receive time of every message, and the simulated field (bench/bridge_field.py:
N Modbus TCP unit ids x 40 holding registers on one port, one random register changed every
100 ms, every change and every read logged with its wall-clock time). After a warm-up the
harness measures the peer over a window: CPU (utime+stime of its process tree, /proc), RSS
(median VmRSS), then keeps capturing for a tail so late messages still count. From the logs:
change -> MQTT latency, read -> MQTT latency, unchanged values republished, missed changes and
the achieved poll period (bench/bridge_metrics.py). The peers are described in
bench/bridge_peers.py.

Usage: .venv/bin/python bench/bridge.py --devices 50,100 --poll 1.0 --window 60 --runs 3
Prints the machine, one table per device count (ranges over the runs; ratios per run), the
issue-shaped summary when several device counts ran, edged's start -> READY and the cost of
the daemon's import (as `edged` imports it); `--json FILE` keeps every figure, `--report
FILE` prints the tables of a kept file again. Exit status: 0 when every measurement was
taken, 1 when the harness itself failed (a peer would not start, a tool is missing); a
missed performance goal is a figure, never an exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bridge_peers as peers
from bridge_metrics import analyse, load_changes, load_reads
from bridge_proc import busy_pct, cpu_seconds, loadavg, machine, machine_busy_seconds, rss_kib
from bridge_report import PEERS, report

from sim.broker import MosquittoBroker

HarnessError = peers.HarnessError


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ one measurement


@contextlib.contextmanager
def subscriber(broker: MosquittoBroker, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """mosquitto_sub on '#' (QoS 1) writing `receive-time topic payload` lines; yields once
    a probe message has come through, so nothing the peer sends is missed."""
    sub_bin = shutil.which("mosquitto_sub")
    pub_bin = shutil.which("mosquitto_pub")
    if sub_bin is None or pub_bin is None:
        raise HarnessError(
            "mosquitto_sub/mosquitto_pub not found: apt-get install mosquitto-clients"
        )
    port = str(broker.port)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sub_bin, "-h", broker.host, "-p", port, "-t", "#", "-q", "1", "-F", "%U %t %p"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 10
        while b"bench/probe" not in log.read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise HarnessError(f"the subscriber saw no probe message; see {log}")
            pub = [pub_bin, "-h", broker.host, "-p", port, "-t", "bench/probe", "-m", "probe"]
            subprocess.run(pub, check=False, capture_output=True, timeout=5)
            time.sleep(0.2)
        yield proc
    finally:
        peers.stop_process(proc, timeout=5)


@contextlib.contextmanager
def field(
    python: str, devices: int, registers: int, seed: int, out: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    cmd = [python, str(peers.BENCH / "bridge_field.py"), "--devices", str(devices)]
    cmd += ["--registers", str(registers), "--seed", str(seed), "--out", str(out)]
    with open(out.parent / "field.log", "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        try:
            port = int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            raise HarnessError(f"the field did not start; see {out.parent / 'field.log'}") from None
        yield proc, port
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the field writes its logs and exits
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise HarnessError("the field did not exit after its stdin closed") from None


def start_peer(name: str, s: peers.Setup, python: str, m2m: Path | None) -> peers.Started:
    if name == "edged":
        return peers.start_edged(s, python)
    if name == "modbus2mqtt":
        assert m2m is not None
        return peers.start_m2m(s, m2m)
    return peers.start_bare(s, python)


def measure(
    name: str, args: argparse.Namespace, devices: int, run: int, logs: Path, m2m: Path | None
) -> dict[str, Any]:
    """One peer, one run, on a fresh broker, subscriber and field."""
    run_dir = logs / f"n{devices}" / f"run{run}" / name
    run_dir.mkdir(parents=True)
    python = sys.executable
    load_before = loadavg()
    result: dict[str, Any] = {"peer": name, "devices": devices, "run": run}
    result["loadavg_before"] = load_before
    broker = MosquittoBroker(workdir=run_dir / "mosquitto")
    broker.start()
    try:
        with (
            subscriber(broker, run_dir / "sub.log") as sub,
            field(python, devices, args.registers, run, run_dir / "field") as (field_proc, port),
        ):
            setup = peers.Setup(run_dir, port, broker.port, devices, args.registers, args.poll)
            started = start_peer(name, setup, python, m2m)
            try:
                time.sleep(args.warmup)
                if started.proc.poll() is not None:
                    raise HarnessError(
                        f"{name} exited with {started.proc.returncode}; see {run_dir}"
                    )
                assert broker.proc is not None
                pids = {
                    "peer": started.proc.pid,
                    "field": field_proc.pid,
                    "broker": broker.proc.pid,
                    "sub": sub.pid,
                }
                cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
                busy0, _ = machine_busy_seconds()
                t0, m0 = time.time(), time.monotonic()
                rss: list[int] = []
                while (left := m0 + args.window - time.monotonic()) > 0:
                    rss.append(rss_kib(started.proc.pid))
                    time.sleep(min(1.0, left))
                cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
                busy1, _ = machine_busy_seconds()
                t1, m1 = time.time(), time.monotonic()
                if started.proc.poll() is not None:
                    raise HarnessError(f"{name} died during the window; see {run_dir}")
                time.sleep(args.tail)
            finally:
                started.stop(peers.STOP_SIGNAL[name])
    finally:
        broker.close()
    wall = m1 - m0
    cpu = {k: 100 * (cpu1[k] - cpu0[k]) / wall for k in pids}
    result["cpu_pct"] = cpu["peer"]
    result["field_cpu_pct"] = cpu["field"]
    result["broker_cpu_pct"] = cpu["broker"] + cpu["sub"]
    result["machine_busy_pct"] = 100 * (busy1 - busy0) / wall
    result["others_pct"] = result["machine_busy_pct"] - sum(cpu.values())
    result["rss_mib"] = statistics.median(rss) / 1024 if rss else math.nan
    result["exec_to_ready_s"] = started.exec_to_ready_s
    if name == "edged":
        result["startup_s"] = peers.edged_startup_s(run_dir / "edged.log")
    seen = []
    with open(run_dir / "sub.log", "rb") as f:
        for line in f:
            seen += peers.parse_subscriber_line(name, line)
    figures = analyse(
        load_changes(run_dir / "field" / "changes.csv"),
        load_reads(run_dir / "field" / "reads.csv"),
        seen,
        t0,
        t1,
    )
    result.update(asdict(figures))
    return result


# ------------------------------------------------------------------------ figures and tables


def installed_bytecode(directory: Path) -> None:
    """Run every peer with compiled bytecode, as installed: pip and the Debian package
    compile edged's modules at install, as pip did the peers' libraries. A development
    environment with PYTHONDONTWRITEBYTECODE would otherwise compile edged's 180 modules
    from source at every start (1.7 times the import time, about 1 MiB more RSS) and no
    peer's.
    Compiled once here into a cache of the harness's own (PYTHONPYCACHEPREFIX), which every
    process it starts inherits; the checkout is not touched."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(directory)
    sources = [str(peers.ROOT / d) for d in ("edge", "drivers", "rules", "sim", "bench")]
    done = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *sources], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise HarnessError(f"compileall failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def import_times(python: str, repeats: int = 5) -> list[float]:
    """Seconds to import the daemon as the `edged` script does (`edge.edged.load`), in a
    fresh interpreter, `repeats` times."""
    code = (
        "import time; t = time.perf_counter(); from edge.edged import load; load(); "
        "print(time.perf_counter() - t)"
    )
    out = []
    for _ in range(repeats):
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise HarnessError(f"importing the daemon failed:\n{done.stderr[-2000:]}")
        out.append(float(done.stdout.strip()))
    return out


# ------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/bridge.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    p.add_argument("--devices", default="50", help="device counts, comma-separated (1..247)")
    p.add_argument("--poll", type=float, default=1.0, help="poll period of every peer, s")
    p.add_argument("--window", type=float, default=60.0, help="measured window, s")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=float, default=10.0, help="s between start and the window")
    p.add_argument("--tail", type=float, default=None, help="capture after the window, s")
    p.add_argument("--registers", type=int, default=40, help="holding registers per device")
    p.add_argument("--peers", default=",".join(PEERS), help="subset of " + ",".join(PEERS))
    p.add_argument(
        "--wait-idle",
        type=float,
        default=None,
        metavar="PCT",
        help="before each measurement wait (up to 10 min) until the machine's CPU use over 3 s"
        " is below PCT %% of one core (other sessions share the cores)",
    )
    p.add_argument("--wait-max", type=float, default=600.0, help="longest wait for --wait-idle, s")
    p.add_argument("--logs", type=Path, default=None, help="keep every run's logs here")
    p.add_argument("--json", type=Path, default=None, help="write all results as JSON here")
    p.add_argument(
        "--report", type=Path, default=None, help="print the tables of a saved --json file, no run"
    )
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edged-bench"
    p.add_argument(
        "--cache", type=Path, default=default_cache, help="where modbus2mqtt's venv lives"
    )
    args = p.parse_args(argv)
    if args.report is not None:
        try:
            args.report_doc = json.loads(args.report.read_text())
            report(args.report_doc)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            p.error(f"--report {args.report}: not a results file of this bench ({exc!r})")
        return args
    try:
        args.device_counts = [int(x) for x in args.devices.split(",") if x.strip()]
    except ValueError:
        p.error(f"--devices must be numbers separated by commas, got {args.devices!r}")
    if not args.device_counts or not all(1 <= n <= 247 for n in args.device_counts):
        p.error("--devices: each count must be 1..247 (Modbus unit ids on one endpoint)")
    args.peer_list = [x.strip() for x in args.peers.split(",") if x.strip()]
    unknown = sorted(set(args.peer_list) - set(PEERS))
    if unknown or not args.peer_list:
        p.error(f"--peers: unknown {unknown}; choose from {', '.join(PEERS)}")
    if args.runs < 1 or args.window <= 0 or args.poll <= 0 or args.warmup < 0:
        p.error("--runs must be >= 1, --window and --poll > 0, --warmup >= 0")
    if not 1 <= args.registers <= 123:
        p.error("--registers must be 1..123 (one read per device for every peer)")
    if args.tail is None:
        args.tail = max(3.0, 3 * args.poll)
    return args


def wait_idle(threshold: float | None, limit_s: float) -> tuple[float, float]:
    """Wait until the machine is quieter than `threshold` (% of one core) or `limit_s` has
    passed; returns (waited s, the last busy figure). Without a threshold, samples once."""
    start = time.monotonic()
    told = -math.inf
    while True:
        busy = busy_pct()
        waited = time.monotonic() - start
        if threshold is None or busy < threshold or waited > limit_s:
            return waited, busy
        if waited - told >= 60:
            say(f"    machine busy {busy:.0f} % of one core (> {threshold:g}): waiting")
            told = waited


def run_all(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    """Every measurement; returns the results document (what --json writes)."""
    m2m = peers.m2m_venv(args.cache) if "modbus2mqtt" in args.peer_list else None
    box = machine(peers.ROOT, m2m / "bin" / "python" if m2m else None)
    imports = import_times(sys.executable) if "edged" in args.peer_list else []
    results: list[dict[str, Any]] = []
    for n in args.device_counts:
        for run in range(1, args.runs + 1):
            shift = (run - 1) % len(args.peer_list)  # rotate the order: drift hits every peer
            for name in args.peer_list[shift:] + args.peer_list[:shift]:
                waited, busy = wait_idle(args.wait_idle, args.wait_max)
                say(f"[{n} devices, run {run}] {name} (load {loadavg()}, busy {busy:.0f} %) ...")
                r = measure(name, args, n, run, logs, m2m)
                r["waited_for_idle_s"], r["busy_before_pct"] = waited, busy
                results.append(r)
                say(
                    f"    cpu {r['cpu_pct']:.2f} %  rss {r['rss_mib']:.1f} MiB  poll p95"
                    f" {r['poll_p95_s']:.3f} s  change p99 {r['change_p99_ms']:.0f} ms"
                    f"  missed {r['missed']}/{r['changes']}  unchanged {r['unchanged_per_s']:.1f}/s"
                )
    command = " ".join([Path(sys.executable).name, "bench/bridge.py", *sys.argv[1:]])
    settings = {
        k: getattr(args, k)
        for k in ("poll", "window", "runs", "warmup", "tail", "registers", "device_counts")
    }
    return {
        "machine": asdict(box),
        "settings": {**settings, "peers": args.peer_list, "command": command},
        "import_edge_daemon_s": imports,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        print(report(args.report_doc))
        return 0
    # A SIGTERM unwinds like Ctrl-C, so every process the harness started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    keep = args.logs is not None
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="bridge-", dir=args.logs))
    try:
        installed_bytecode(logs / "pycache")
        doc = run_all(args, logs)
    except HarnessError as exc:
        say(f"bench/bridge.py: harness failure: {exc}\n(logs kept in {logs})")
        return 1
    except BaseException:  # interrupted: nothing worth keeping unless asked
        if not keep:
            shutil.rmtree(logs, ignore_errors=True)
        raise
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=1))
    print(report(doc))
    if keep:
        say(f"logs of every run: {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
