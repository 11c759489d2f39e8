"""Optimal start: learn per zone how long the HVAC needs to reach its target.

rate = |target - start temperature| / time taken (K per hour), kept per zone
and per mode (heating, cooling) for the last `window_days`, averaged. The lead
time for a booking is |target - current| / rate, zero within the dead band,
capped at `max_lead`. Until a zone has an observation the default rate is used.

The learner is pure: `observe` returns a new state; edge/ persists it with
msgspec (`msgspec.json.encode(state)` / `msgspec.json.decode(b, type=LearnedRates)`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import msgspec

Mode = Literal["heat", "cool"]


class OptimalStartConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Tuning of the learner (part of the site config, not of the learned state)."""

    default_heat_rate_k_per_h: float = 3.0
    default_cool_rate_k_per_h: float = 3.0
    deadband_k: float = 0.5
    """No pre-start when the zone is already within this of the target."""
    max_lead: timedelta = timedelta(hours=3)
    window_days: int = 14
    """Observations older than this (relative to the newest) are forgotten."""
    max_observations: int = 64
    """Per zone and mode, to bound the persisted state."""


DEFAULT_CONFIG = OptimalStartConfig()


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """One completed warm-up or cool-down."""

    at: datetime
    mode: Mode
    rate_k_per_h: float


class LearnedRates(msgspec.Struct, frozen=True, kw_only=True):
    """Persisted learner state: zone id -> observations, newest last."""

    zones: dict[str, tuple[Observation, ...]] = {}


def observe(
    state: LearnedRates,
    zone: str,
    start_temp: float,
    target: float,
    took_s: float,
    at: datetime,
    config: OptimalStartConfig = DEFAULT_CONFIG,
) -> LearnedRates:
    """Record that `zone` went from `start_temp` to `target` in `took_s` seconds.

    Observations that carry no information (no temperature change inside the
    dead band, non-positive or non-finite duration) leave the state unchanged.
    """
    delta = target - start_temp
    if not _finite(delta) or not _finite(took_s) or took_s <= 0 or abs(delta) <= config.deadband_k:
        return state
    obs = Observation(
        at=at, mode="heat" if delta > 0 else "cool", rate_k_per_h=abs(delta) * 3600.0 / took_s
    )
    horizon = at - timedelta(days=config.window_days)
    kept = [o for o in (*state.zones.get(zone, ()), obs) if o.at >= horizon]
    kept.sort(key=lambda o: o.at)
    per_mode: dict[str, int] = {}
    trimmed: list[Observation] = []
    for o in reversed(kept):  # keep the newest `max_observations` of each mode
        per_mode[o.mode] = per_mode.get(o.mode, 0) + 1
        if per_mode[o.mode] <= config.max_observations:
            trimmed.append(o)
    trimmed.reverse()
    return LearnedRates(zones={**state.zones, zone: tuple(trimmed)})


def rate(
    state: LearnedRates, zone: str, mode: Mode, config: OptimalStartConfig = DEFAULT_CONFIG
) -> float:
    """Average learned rate (K/h) for the zone and mode, or the default rate."""
    rates = [o.rate_k_per_h for o in state.zones.get(zone, ()) if o.mode == mode]
    if rates:
        return sum(rates) / len(rates)
    return config.default_heat_rate_k_per_h if mode == "heat" else config.default_cool_rate_k_per_h


def lead_time(
    state: LearnedRates,
    zone: str,
    current_temp: float,
    target: float,
    config: OptimalStartConfig = DEFAULT_CONFIG,
) -> timedelta:
    """How long before a booking start the HVAC must start to be at `target` at the start."""
    delta = target - current_temp
    if not _finite(delta) or abs(delta) <= config.deadband_k:
        return timedelta(0)
    r = rate(state, zone, "heat" if delta > 0 else "cool", config)
    if r <= 0 or not _finite(r):
        return config.max_lead
    return min(timedelta(seconds=round(abs(delta) * 3600.0 / r)), config.max_lead)


def _finite(x: float) -> bool:
    return x == x and x not in (float("inf"), float("-inf"))


class PreStart(msgspec.Struct, frozen=True, kw_only=True):
    """An optimal-start warm-up in progress (listed in Evaluation.prestarts)."""

    zone: str
    since: datetime
    """When the HVAC was (or should have been) started for it."""
    due: datetime
    """The booking start: the target should be reached by then."""
    target_c: float
    lead_s: float


class WarmupResult(msgspec.Struct, frozen=True, kw_only=True):
    """A finished warm-up: feed `observe`, and report `early_s` (how close to the start)."""

    zone: str
    start_temp: float
    target_c: float
    took_s: float
    reached_at: datetime
    early_s: float
    """Seconds before the booking start the target was reached (negative: late)."""


def warmup_done(
    pre: PreStart,
    start_temp: float,
    current_temp: float,
    t: datetime,
    config: OptimalStartConfig = DEFAULT_CONFIG,
) -> WarmupResult | None:
    """The result once `current_temp` is within the dead band of the target, else None.

    edge/ keeps (PreStart, temperature when it began) while a warm-up runs,
    calls this on each temperature reading, then `observe(...)` with the result.
    """
    if not _finite(current_temp) or abs(pre.target_c - current_temp) > config.deadband_k:
        return None
    return WarmupResult(
        zone=pre.zone,
        start_temp=start_temp,
        target_c=pre.target_c,
        took_s=(t - pre.since).total_seconds(),
        reached_at=t,
        early_s=(pre.due - t).total_seconds(),
    )
