"""bench/bridge.py end to end, tiny: 3 devices, a 4 s window, one run of each peer.

It checks that the harness runs every peer on the real field, broker and subscriber and
produces every figure; the figures themselves are not judged (speed goals are figures).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bridge_peers import HarnessError, m2m_venv

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edged-bench"
FIGURES = (
    "cpu_pct",
    "rss_mib",
    "poll_p95_s",
    "change_p50_ms",
    "change_p95_ms",
    "change_p99_ms",
    "read_p50_ms",
    "unchanged_per_s",
    "values_per_s",
)


@pytest.mark.timeout(110)
def test_bridge_bench_produces_every_figure(tmp_path: Path) -> None:
    if shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto-clients is not installed (apt-get install -y mosquitto-clients)")
    try:
        m2m_venv(CACHE)  # made once and cached; the harness would make it too
    except HarnessError as exc:
        pytest.skip(f"modbus2mqtt 0.73 cannot be installed here: {exc}")
    out = tmp_path / "bridge.json"
    cmd = [sys.executable, "bench/bridge.py", "--devices", "3", "--window", "4", "--runs", "1"]
    cmd += ["--warmup", "2", "--tail", "2", "--json", str(out), "--cache", str(CACHE)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    results = {r["peer"]: r for r in doc["results"]}
    assert sorted(results) == ["bare", "edged", "modbus2mqtt"]
    for peer, r in results.items():
        for name in FIGURES:
            assert isinstance(r[name], int | float) and math.isfinite(r[name]), (
                peer,
                name,
                r[name],
            )
        assert r["changes"] > 0 and 0 <= r["missed"] <= r["changes"], (peer, r)
    assert results["edged"]["exec_to_ready_s"] > 0 and results["edged"]["startup_s"] > 0
    assert results["edged"]["peer_read_p50_ms"] is not None
    assert results["modbus2mqtt"]["peer_read_p50_ms"] is None  # it publishes no read time
    assert len(doc["import_edge_daemon_s"]) == 5
    for row in ("CPU (% of one core)", "RSS steady (MiB)", "change -> MQTT p99 (ms)"):
        assert f"| {row} |" in done.stdout
    assert "edged start -> READY" in done.stdout and "import of the daemon" in done.stdout
    again = subprocess.run(
        [sys.executable, "bench/bridge.py", "--report", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert again.returncode == 0 and again.stdout == done.stdout
