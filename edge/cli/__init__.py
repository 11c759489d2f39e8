"""edgectl: the field technician's CLI."""
