"""Call work for the worker: the offline backend's simulated call progress."""

from crm.services.calls import call_simulate


def call_simulate_task(call_id: int) -> list[str]:
    return call_simulate(call_id=call_id)
