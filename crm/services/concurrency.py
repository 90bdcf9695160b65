"""Run provider calls (network waits, no ORM writes) a few at a time inside one task."""

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

T = TypeVar("T")
R = TypeVar("R")


def map_io(fn: Callable[[T], R], items: Iterable[T], *, workers: int) -> list[R]:
    """`[fn(item) for item in items]`, with up to `workers` running at once, results in order.

    Each thread closes the database connections it opened (the database rate limiter
    uses one), so a long-running worker does not leak them.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]

    def run(item: T) -> R:
        try:
            return fn(item)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="provider") as pool:
        return list(pool.map(run, items))
