"""Scheduled: the hot-lead safety net."""

from crm.services.hot_leads import hot_leads_sweep


def hot_leads_sweep_task() -> dict:
    return hot_leads_sweep()
