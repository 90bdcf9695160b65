"""Shared fixtures: users with real roles (ADMIN/REP groups from the data migration)
and logged-in test clients for each."""

import pytest
from django.test import Client

from tests.factories import AdminUserFactory, RepUserFactory


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
