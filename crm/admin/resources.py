"""import-export resources. Formula escaping on export is on in settings."""

from import_export import fields, resources

from crm.models import Lead


class LeadExportResource(resources.ModelResource):
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

    def get_export_queryset(self, request):
        return super().get_export_queryset(request).select_related("assigned_rep")
