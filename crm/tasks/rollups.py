"""Scheduled: the dashboard's pre-counted activity brought up to date (crm/services/rollups.py)."""

from crm.services.rollups import rollups_refresh


def rollups_refresh_task() -> dict[str, str]:
    return rollups_refresh()
