"""Schemathesis against the API's own OpenAPI document: generated requests (valid and not) for
every operation, as an admin's token and as a rep's, over WSGI in-process. No answer is a 500,
and every answer has a documented status, content type and a body matching its schema."""

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm.services.api_tokens import api_token_create
from tests.crm.services.messaging.support import at
from tests.factories import LeadFactory, MessageFactory, NotificationFactory, RepUserFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def _one_connection():
    """As Django's test client does: the WSGI app must not close the test's connection (and its
    transaction) at the end of each request."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def tokens(db, admin_user, settings, _one_connection):
    settings.API_RATE_PER_MINUTE = 1_000_000
    cache.clear()
    rep = RepUserFactory(username="fuzz_rep")
    for owner in (rep, None):
        lead = LeadFactory(assigned_rep=owner)
        MessageFactory(lead=lead)
        NotificationFactory(recipient=rep, lead=lead)
    return {"admin": api_token_create(user=admin_user, name="fuzz", actor=admin_user)[1],
            "rep": api_token_create(user=rep, name="fuzz", actor=admin_user)[1]}


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
@pytest.mark.parametrize("role", ["admin", "rep"])
def test_every_operation_answers_by_its_schema(case, tokens, role):
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {tokens[role]}"}
    with at():
        case.call_and_validate(checks=CHECKS)
