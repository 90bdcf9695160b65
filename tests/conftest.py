"""Shared fixtures: users with real roles (ADMIN/REP groups from the data migration)
and logged-in test clients for each."""

from datetime import datetime

import pytest
import time_machine
from django.test import Client

from tests.factories import AdminUserFactory, RepUserFactory


def pytest_addoption(parser):
    parser.addoption(
        "--clock", default="",
        help="Run the whole suite with the wall clock starting at this ISO time (it keeps ticking), "
             "e.g. --clock=2026-12-02T23:30:00-05:00: no test may depend on the hour it runs at.")


@pytest.fixture(scope="session", autouse=True)
def _suite_clock(request):
    start = request.config.getoption("--clock")
    if not start:
        yield
        return
    with time_machine.travel(datetime.fromisoformat(start), tick=True):
        yield


@pytest.fixture
def admin_user(db):
    """Overrides pytest-django's: a superuser who is also in the ADMIN group."""
    return AdminUserFactory(username="admin")


@pytest.fixture
def admin_client(admin_user):
    """Overrides pytest-django's so it logs in the ADMIN-group superuser above."""
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def rep_user(db):
    return RepUserFactory(username="rep_a")


@pytest.fixture
def other_rep(db):
    return RepUserFactory(username="rep_b")


@pytest.fixture
def rep_client(rep_user):
    client = Client()
    client.force_login(rep_user)
    return client
