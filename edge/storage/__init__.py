"""Persistence: one SQLite database in the state directory."""

from edge.storage.connection import Schema
from edge.storage.db import Database, OpenReport
from edge.storage.errors import (
    Fault,
    StorageClosed,
    StorageCorrupt,
    StorageError,
    StorageFault,
    StorageFull,
    StorageIOError,
    StorageReadOnly,
)
from edge.storage.events import (
    FileRecreated,
    HealthState,
    HealthView,
    IntegrityProblem,
    StorageEvent,
    StorageFailing,
    StorageRecovered,
)
from edge.storage.preflight import StorageProblem, state_dir_problems
from edge.storage.salvage import SalvageReport, TableSalvage

__all__ = [
    "Database",
    "Fault",
    "FileRecreated",
    "HealthState",
    "HealthView",
    "IntegrityProblem",
    "OpenReport",
    "SalvageReport",
    "Schema",
    "StorageClosed",
    "StorageCorrupt",
    "StorageError",
    "StorageEvent",
    "StorageFailing",
    "StorageFault",
    "StorageFull",
    "StorageIOError",
    "StorageProblem",
    "StorageReadOnly",
    "StorageRecovered",
    "TableSalvage",
    "state_dir_problems",
]
