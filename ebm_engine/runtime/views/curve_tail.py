"""The provisional end of a training curve while an iteration's negative chains are still moving."""
from __future__ import annotations

from ebm_engine.training.in_flight_chains import InFlightChains


def curve_tail(iteration: int, chains: InFlightChains | None, steps: int,
               values: dict[str, float] | None) -> dict[str, float] | None:
    """``{"step": iteration + done / steps, **values}`` while the chains of the iteration after
    ``iteration`` are on their way (None before their first step, or without chains or values).
    The curve's next point lands at ``iteration + 1``, where the chains end."""
    if chains is None or chains.steps_done == 0 or steps <= 0 or not values:
        return None
    return {"step": float(iteration + min(chains.steps_done, steps) / steps), **values}
