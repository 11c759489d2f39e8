"""The alarms component on its own: start-up storage report and disabled classes."""

from __future__ import annotations

from pathlib import Path

from edge.alarms import AlarmsConfig, AlarmService, ClassOverride, report_database_open
from edge.clock import SystemClock
from edge.field.points import PointTable
from edge.storage import Database

from .rig import open_engine, venue


async def test_database_recovered_at_start_raises_storage_error(tmp_path: Path) -> None:
    """A corrupt database moved aside at open leaves a `returned` storage_error to ack."""
    path = tmp_path / "edge.db"
    path.write_bytes(b"this is not an sqlite file at all" * 200)
    db = Database.open(path)
    assert db.report.recovered_from is not None
    engine = await open_engine(db, AlarmsConfig())
    report_database_open(engine, db.report)
    rec = engine.get("storage_error:database")
    assert rec is not None and rec.state.value == "returned"
    assert "moved aside" in rec.message
    db.close()


async def test_disabled_class_is_silent(tmp_path: Path) -> None:
    """A class disabled in `[alarms.classes]` is never raised, and reporting it is no error."""
    db = Database.open(tmp_path / "edge.db")
    cfg = AlarmsConfig(classes={"storage_error": ClassOverride(enabled=False)})
    engine = await open_engine(db, cfg)
    svc = AlarmService(venue(), cfg, engine, SystemClock(), PointTable())
    svc.storage_error("disk full")
    assert svc.engine.open_alarms() == []
    db.close()


def test_config_problems_name_what_is_wrong() -> None:
    """Unknown classes, devices and zones, and inverted ranges are reported with paths."""
    from edge.alarms import MaintenanceLimit
    from edge.alarms.validate import alarm_config_problems

    cfg = AlarmsConfig(
        classes={"smoke": ClassOverride()},
        maintenance={"ghost": MaintenanceLimit(cycles=5)},
        zone_power_floor={"atrium": 100.0},
        temp_min_c=30.0,
        temp_max_c=20.0,
    )
    paths = [p for p, _ in alarm_config_problems(venue(), cfg)]
    assert paths == [
        "alarms.classes.smoke",
        "alarms.maintenance.ghost",
        "alarms.zone_power_floor.atrium",
        "alarms.temp_min_c",
    ]
    assert alarm_config_problems(venue(), AlarmsConfig()) == []
