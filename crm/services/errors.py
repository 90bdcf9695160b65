"""Exceptions services raise for their callers to act on (a leaf module: imports nothing)."""

from collections.abc import Callable


class EventNotReady(Exception):
    """A webhook event about an object not recorded yet (a status callback that beat the SID):
    kept unprocessed, without counting as a failure, and processed once the object exists.
    `recheck` says whether it exists now."""

    def __init__(self, message: str, recheck: Callable[[], bool] | None = None):
        super().__init__(message)
        self.recheck = recheck
