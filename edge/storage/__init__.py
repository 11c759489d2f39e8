"""Persistence: one SQLite database in the state directory."""

from edge.storage.db import Database, OpenReport, Schema
from edge.storage.errors import StorageError

__all__ = ["Database", "OpenReport", "Schema", "StorageError"]
