"""Fire alarm: every egress gate and light commanded, held until the panel clears and a reset."""

from __future__ import annotations

import asyncio

import pytest

from edge.automation.emergency import ResetRefused
from edge.automation.reconciler import Cause, Want
from tests.automation.rigs import emergency_rig, until


async def test_fire_alarm_commands_everything_and_holds() -> None:
    """Alarm -> all lights full and gates open; reset refused while the panel is in alarm."""
    async with emergency_rig() as rig:
        rig.reconciler.set_wanted(
            {
                o: Want(False, "default", Cause("default"))
                for o in rig.light_outputs + rig.gate_outputs
            }
        )
        await until(lambda: all(rig.points.get(o) is not None for o in rig.light_outputs))
        rig.panel.set_discrete(0, [True])
        await until(rig.all_commanded)
        assert rig.active
        with pytest.raises(ResetRefused, match="clear it at the panel"):
            rig.reset("tech")
        rig.panel.set_discrete(0, [False])  # the panel clears: the latch still holds
        await asyncio.sleep(0.5)
        assert rig.active and rig.all_commanded()
        await until(lambda: not rig.panel_in_alarm())
        rig.reset("tech")
        await until(rig.all_released)
