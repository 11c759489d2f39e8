"""The `[alarms]` config table lives with the venue config (edge/config/alarms.py)."""

from edge.config.alarms import AlarmsConfig, ClassOverride, MaintenanceLimit, Seconds, SeverityName

__all__ = ["AlarmsConfig", "ClassOverride", "MaintenanceLimit", "Seconds", "SeverityName"]
