"""Fixtures for alarm tests: a real mosquitto for the outbox-filling case."""

from tests.brokers import mosquitto  # noqa: F401
