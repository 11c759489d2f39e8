"""Storage errors."""


class StorageError(Exception):
    """The database could not be opened, migrated or written."""
