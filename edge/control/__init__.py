"""The local control socket that `edgectl` talks to."""
