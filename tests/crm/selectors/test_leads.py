"""Lead reads: only strings that can be preview tokens reach the database."""

import pytest

from crm.selectors.leads import lead_get_by_preview_token, lead_id_by_preview_token, preview_token_valid
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("token, valid", [
    ("abcDEF123_-abcdef", True), ("x" * 64, True), ("x" * 65, False), ("short", False), ("ab\x00cd1234", False),
    ("bad token here", False), ("", False), (None, False), ("ünïcødé-token", False),
])
def test_what_can_be_a_token(token, valid):
    assert preview_token_valid(token) is valid


def test_lookups(django_assert_num_queries):
    lead = LeadFactory()
    with django_assert_num_queries(2):
        assert lead_get_by_preview_token(token=lead.preview_token) == lead
        assert lead_id_by_preview_token(token=lead.preview_token) == lead.pk
    with django_assert_num_queries(0):
        assert lead_get_by_preview_token(token="ab\x00cd1234") is None
        assert lead_id_by_preview_token(token="nope") is None
