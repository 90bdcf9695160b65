"""Unfold admin: branding, sidebar and dashboard callback. Filled in by the admin work."""

UNFOLD = {
    "SITE_TITLE": "Outreach CRM",
    "SITE_HEADER": "Outreach CRM",
}
