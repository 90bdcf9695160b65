"""import-export resources, with spreadsheet formula injection neutralised on export."""

import re

from import_export import fields, resources

from crm.models import Lead


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def neutralise_formula(value):
    """Prefix a quote to text a spreadsheet would run as a formula (OWASP CSV injection).

    A bare E.164 phone number is left alone: it cannot be a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not E164.match(value):
        return "'" + value
    return value


class FormulaSafeResource(resources.ModelResource):
    def export_field(self, field, instance, **kwargs):
        return neutralise_formula(super().export_field(field, instance, **kwargs))


class LeadExportResource(FormulaSafeResource):
    assigned_rep = fields.Field(attribute="assigned_rep__username", column_name="assigned_rep")

    class Meta:
        model = Lead
        fields = [
            "id", "business_name", "contact_first_name", "contact_last_name", "phone", "email",
            "website", "address", "city", "state", "postcode", "country", "category", "status",
            "priority", "assigned_rep", "time_zone", "first_line", "engagement_score",
            "opted_out_at", "created_at",
        ]
        export_order = fields
