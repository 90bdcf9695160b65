"""API test helpers: a token per user (made by the service, as the admin does) and a client that
sends it as a Bearer token. Every API test runs on a fixed clock and an empty rate-limit cache."""

import pytest
from django.core.cache import cache
from django.test import Client

from crm.models import CompanySettings
from crm.services.api_tokens import api_token_create
from tests.crm.services.messaging.support import at


@pytest.fixture(autouse=True)
def _clock_and_cache(db):
    cache.clear()
    company = CompanySettings.load()
    company.default_region = "US"
    company.save()
    with at():
        yield
    cache.clear()


class ApiClient:
    def __init__(self, raw_token: str):
        self.raw = raw_token
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params)

    def post(self, path: str, data=None, headers=None, **kwargs):
        if "files" in kwargs:
            return self.client.post(f"/api/v1{path}", {**(data or {}), **kwargs["files"]}, headers=headers or {})
        return self.client.post(f"/api/v1{path}", data or {}, content_type="application/json",
                                headers=headers or {})

    def patch(self, path: str, data):
        return self.client.patch(f"/api/v1{path}", data, content_type="application/json")


def api_for(user) -> ApiClient:
    _, raw = api_token_create(user=user, name="test", actor=user)
    return ApiClient(raw)


@pytest.fixture
def admin_api(admin_user):
    return api_for(admin_user)


@pytest.fixture
def rep_api(rep_user):
    return api_for(rep_user)
