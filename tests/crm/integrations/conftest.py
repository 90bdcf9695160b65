"""Fixtures for the provider clients: a fake provider server on 127.0.0.1 and a sleep that
records instead of waiting."""

import pytest

from fakes.http_server import fake_server as fake_server  # noqa: F401  (the fixture)


class SleepRecorder:
    """Stands in for time.sleep: remembers each wait, waits for none."""

    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()


class CountingLimiter:
    """Stands in for the shared rate limiter: counts the slots taken."""

    def __init__(self):
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def limiter():
    return CountingLimiter()
