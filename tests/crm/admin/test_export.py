"""Lead export through django-import-export's admin view: CSV and XLSX, formula escaping,
the list's filters applied, and reps get only their own leads."""

import csv
import io

import pytest
from django.contrib import admin
from django.urls import reverse
from openpyxl import load_workbook

from crm.admin.resources import neutralise_formula
from crm.models import Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

EXPORT_URL = reverse("admin:crm_lead_export")
COLUMNS = ["id", "business_name", "contact_first_name", "contact_last_name", "phone", "email", "website",
           "address", "city", "state", "postcode", "country", "category", "status", "priority", "assigned_rep",
           "time_zone", "first_line", "engagement_score", "opted_out_at", "created_at"]


def _format_index(title: str) -> str:
    """The export form's `format` value: the index into the admin's export formats."""
    formats = admin.site._registry[Lead].get_export_formats()
    return str([f().get_title() for f in formats].index(title))


def _export_csv(client, query: str = "") -> list[dict]:
    response = client.post(EXPORT_URL + query, {"format": _format_index("csv"), "resource": "0"})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="Lead-')
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _export_xlsx(client) -> list[list]:
    response = client.post(EXPORT_URL, {"format": _format_index("xlsx"), "resource": "0"})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no live formulas
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.fixture
def hostile_lead():
    return LeadFactory(
        business_name='=HYPERLINK("http://evil.example","Click")', contact_first_name="+SUM(1,2)",
        contact_last_name="-2+3", city="@cmd", address="\tTabbed St", category="\rCarriage",
        phone="+12125550143", email="owner@example.com", state="NY",
    )


def test_export_form_offers_csv_and_xlsx(admin_client):
    response = admin_client.get(EXPORT_URL)

    assert response.status_code == 200
    assert [title for _, title in response.context["form"].fields["format"].choices if _ != ""] == ["csv", "xlsx"]


def test_admin_exports_csv_with_formulas_neutralised(admin_client, hostile_lead, rep_user):
    plain = LeadFactory(business_name="Plain Plumbing", phone="+12125550144", assigned_rep=rep_user)

    rows = _export_csv(admin_client)

    assert list(rows[0]) == COLUMNS
    by_id = {int(r["id"]): r for r in rows}
    hostile = by_id[hostile_lead.pk]
    assert hostile["business_name"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert (hostile["contact_first_name"], hostile["contact_last_name"], hostile["city"]) == (
        "'+SUM(1,2)", "'-2+3", "'@cmd")
    assert (hostile["address"], hostile["category"]) == ("'\tTabbed St", "'\rCarriage")
    assert hostile["phone"] == "+12125550143"  # a bare E.164 number cannot be a formula
    assert (by_id[plain.pk]["business_name"], by_id[plain.pk]["assigned_rep"]) == ("Plain Plumbing", rep_user.username)


def test_admin_exports_xlsx_with_formulas_neutralised(admin_client, hostile_lead):
    header, *rows = _export_xlsx(admin_client)

    assert header == COLUMNS
    (row,) = rows
    values = dict(zip(header, row))
    assert values["business_name"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert (values["contact_first_name"], values["contact_last_name"], values["city"]) == (
        "'+SUM(1,2)", "'-2+3", "'@cmd")
    assert values["phone"] == "+12125550143"


def test_export_follows_the_lists_filters(admin_client):
    LeadFactory(business_name="Lost Cause", status=Lead.Status.LOST)
    LeadFactory(business_name="Still New", status=Lead.Status.NEW)

    rows = _export_csv(admin_client, "?status__exact=LOST")

    assert [r["business_name"] for r in rows] == ["Lost Cause"]


def test_rep_exports_only_their_own_leads(rep_client, rep_user, other_rep):
    mine = [LeadFactory(business_name=f"Mine {i}", assigned_rep=rep_user) for i in range(2)]
    LeadFactory(business_name="Theirs", assigned_rep=other_rep)
    LeadFactory(business_name="Nobody's")

    rows = _export_csv(rep_client)

    assert sorted(int(r["id"]) for r in rows) == sorted(lead.pk for lead in mine)
    assert {r["assigned_rep"] for r in rows} == {rep_user.username}


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1 cell", "'+1 cell"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("+12125550143", "+12125550143"), ("+1 212 555 0143", "'+1 212 555 0143"),
    ("Plain", "Plain"), ("", ""), (None, None), (42, 42),
])
def test_neutralise_formula(value, expected):
    assert neutralise_formula(value) == expected
