"""`python -m edge.uplink.schemas`: rewrite the shipped JSON Schemas from the contract types."""

from edge.uplink.schemas import write

if __name__ == "__main__":
    for path in write():
        print(path)
