"""Behaviours of the simulated devices, one class per device profile."""
