"""Alarms: the engine (lifecycle, debounce, shelving, persistence) and built-in detectors."""

from edge.alarms.classes import builtin_classes
from edge.alarms.config import AlarmsConfig, ClassOverride, MaintenanceLimit
from edge.alarms.engine import AlarmEngine
from edge.alarms.errors import AlarmRefused, UnknownAlarmClass
from edge.alarms.journaling import journal_entry
from edge.alarms.model import AlarmClass, AlarmEvent, AlarmRecord, AlarmState, Severity
from edge.alarms.service import AlarmService, configure_engine, report_database_open
from edge.alarms.system import kernel_clock_synced
from edge.alarms.validate import alarm_config_problems
from edge.alarms.wanted import zone_wanted_from

__all__ = [
    "AlarmClass",
    "AlarmEngine",
    "AlarmEvent",
    "AlarmRecord",
    "AlarmRefused",
    "AlarmService",
    "AlarmState",
    "AlarmsConfig",
    "ClassOverride",
    "MaintenanceLimit",
    "Severity",
    "UnknownAlarmClass",
    "alarm_config_problems",
    "builtin_classes",
    "configure_engine",
    "journal_entry",
    "kernel_clock_synced",
    "report_database_open",
    "zone_wanted_from",
]
