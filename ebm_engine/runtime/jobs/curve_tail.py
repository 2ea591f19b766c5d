"""The provisional end of a training curve while an iteration's negative chains are still moving."""
from __future__ import annotations

from ebm_engine.training.in_flight_chains import InFlightChains


def chains_tail(iteration: int, chains: InFlightChains | None, steps: int, key: str) -> dict[str, float] | None:
    """``{"step": iteration + done / steps, key: the chains' mean energy}`` once the chains of the
    iteration after ``iteration`` have taken a step (None before, or without chains). The curve's next
    point lands at ``iteration + 1``, with the energy of where the chains end."""
    if chains is None or chains.steps_done == 0 or steps <= 0:
        return None
    return {"step": float(iteration + min(chains.steps_done, steps) / steps), key: float(chains.state.energy.mean())}
