"""Fixtures for storage tests: a real small tmpfs to fill (see disks.py)."""

from tests.storage.disks import small_disk  # noqa: F401
