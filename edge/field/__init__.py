"""The daemon's side of the field: buses as components, the live point table."""
