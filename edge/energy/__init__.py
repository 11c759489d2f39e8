"""Energy: meter interval energy, per zone and per booking, with honest estimation."""

from edge.energy.decoder import CounterDecoder, Step, StepKind
from edge.energy.model import BookingEnergy, EnergyConfig, EnergyInterval
from edge.energy.service import EnergyService
from edge.energy.windows import fixed_window, window_from_site, window_with_prestarts

__all__ = [
    "BookingEnergy",
    "CounterDecoder",
    "EnergyConfig",
    "EnergyInterval",
    "EnergyService",
    "Step",
    "StepKind",
    "fixed_window",
    "window_from_site",
    "window_with_prestarts",
]
