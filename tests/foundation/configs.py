"""Small venue configs for foundation tests, written into tmp dirs."""

from __future__ import annotations

from pathlib import Path


def minimal(state_dir: Path, runtime_dir: Path, port: int = 15020, extra: str = "") -> str:
    return f"""
[site]
id = "test-site"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state_dir}"
runtime_dir = "{runtime_dir}"

[[zones]]
id = "court-1"
kind = "court"
lights = ["lights-1.ch1_on"]

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {port}

[[devices]]
id = "lights-1"
profile = "lighting_8ch"
bus = "tcp-1"
unit_id = 1
zone = "court-1"
{extra}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
