"""The lead list draws exactly what Unfold draws, for less: cells from cached markup, one URL
reversed per page, rows joined in Python, and a results template without the unused parts."""

import re

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList as DjangoChangeList
from django.template.loader import render_to_string
from django.test import RequestFactory
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.templatetags.unfold_list import result_list
from unfold.utils import display_for_label

from crm import models as m
from crm.admin.leads import PRIORITY_COLOURS, STATUS_COLOURS
from crm.admin.list_rendering import FastChangeList, label_html
from tests import factories as f

pytestmark = pytest.mark.django_db

LEAD_LIST = "/admin/crm/lead/"


def _lead_admin():
    return admin.site._registry[m.Lead]


def _changelist(client, query: str = ""):
    response = client.get(LEAD_LIST + query)
    assert response.status_code == 200
    return response


def test_row_checkbox_is_unfolds(admin_user):
    lead = f.LeadFactory()
    lead_admin = _lead_admin()

    assert lead_admin.action_checkbox(lead) == UnfoldModelAdmin.action_checkbox(lead_admin, lead)
    assert lead_admin.action_checkbox.short_description == UnfoldModelAdmin.action_checkbox.short_description


@pytest.mark.parametrize(("value", "colour"), [*STATUS_COLOURS.items(), *PRIORITY_COLOURS.items()])
def test_status_and_priority_labels_are_unfolds(value, colour):
    assert label_html(value, colour) == display_for_label(value, "-", {value: colour})


def test_row_links_are_the_change_urls_django_reverses(admin_user):
    leads = f.LeadFactory.create_batch(3)
    request = RequestFactory().get(LEAD_LIST)
    request.user = admin_user
    changelist = _lead_admin().get_changelist_instance(request)

    assert isinstance(changelist, FastChangeList)
    assert [changelist.url_for_result(lead) for lead in leads] == [
        DjangoChangeList.url_for_result(changelist, lead) for lead in leads]


def test_empty_cells_show_the_sites_empty_value():
    assert _lead_admin().get_empty_value_display() == admin.site.empty_value_display


def _squeeze(html: str) -> str:
    """The markup without blank space between tags, inside tags before ">", or repeated."""
    return re.sub(r"\s+>", ">", re.sub(r"\s+", " ", re.sub(r">\s+<", "><", html))).strip()


@pytest.mark.parametrize("query", ["", "?o=-7", "?q=nothing-matches-this"])
def test_the_lead_results_template_draws_unfolds_rows(admin_client, rep_user, query):
    """Ours and Unfold's admin/change_list_results.html give the same markup, but for blank space."""
    f.LeadFactory.create_batch(3, assigned_rep=rep_user, engagement_score=2.5)
    f.LeadFactory(assigned_rep=None, status=m.Lead.Status.PAID, priority=m.Lead.Priority.HOT)
    response = _changelist(admin_client, query)
    context = result_list({"request": response.wsgi_request}, response.context["cl"])

    ours = render_to_string("admin/crm/lead/change_list_results.html", context)
    unfolds = render_to_string("admin/change_list_results.html", context)

    assert _squeeze(ours) == _squeeze(unfolds)
    assert ours.count('class="field-business_name') == len(response.context["cl"].result_list)


def test_the_lead_admin_uses_nothing_its_results_template_leaves_out():
    """admin/crm/lead/change_list_results.html drops drag ordering, row sections, row actions
    and list_editable forms: using one of them means going back to Unfold's template."""
    lead_admin = _lead_admin()

    assert getattr(lead_admin, "ordering_field", None) is None
    assert not getattr(lead_admin, "list_sections", [])
    assert not getattr(lead_admin, "actions_row", [])
    assert not lead_admin.list_editable
