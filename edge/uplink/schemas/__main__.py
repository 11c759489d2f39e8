"""`python -m edge.uplink.schemas`: rewrite the shipped JSON Schemas from the contract types."""

import structlog

from edge.uplink.schemas import write

if __name__ == "__main__":
    log = structlog.get_logger("edge.uplink.schemas")
    for path in write():
        log.info("schema_written", path=str(path))
