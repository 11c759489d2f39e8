"""Opening a gate: one pulse of its relay through the reconciler (the only writer), for
a granted credential (`edge.gate_readers`) or an operator's command (`edge.ops`)."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from edge.automation.reconciler import Cause, CommandFailed, Reconciler, Want
from edge.venue import GateDrive

log = structlog.get_logger("edge.gates")


HOLD_MIN_S, HOLD_MAX_S = 0.5, 60.0
"""The range of a pulse length: the config's `pulse_s`, a command's `hold_s`, the profile."""


async def pulse_gate(
    reconciler: Reconciler,
    drives: Mapping[str, GateDrive],
    gate: str,
    cause: Cause,
    seconds: float | None = None,
) -> bool:
    """Open `gate` once, for `seconds` (default its `pulse_s`); False when it did not."""
    drive = drives.get(gate)
    if drive is None:
        log.error("gate_has_no_relay", gate=gate)
        return False
    try:
        if drive.pulse_register is None:
            reconciler.pulse(drive.relay, seconds or drive.pulse_s, cause)
            return True
        if seconds is not None and seconds != drive.pulse_s:
            await reconciler.command(drive.pulse_register, seconds, cause)
        await reconciler.command(drive.relay, True, cause)
    except CommandFailed as exc:
        log.error("gate_pulse_failed", gate=gate, error=exc.error)
        return False
    return True


def pulse_settings(drives: Mapping[str, GateDrive]) -> dict[str, Want]:
    """The pulse length each controller with a register keeps (re-asserted if it drifts)."""
    return {
        d.pulse_register: Want(d.pulse_s, "setting", Cause("setting", gate))
        for gate, d in drives.items()
        if d.pulse_register is not None
    }
