"""The client's billing-portal link on the Client admin page: a link the rep copies into a text
or email (on our domain, it opens a fresh Stripe portal session per click), and a button that
opens a portal session for the client now."""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.decorators import display

from crm.services.billing.portal import billing_portal_link, billing_portal_open

PORTAL_FIELD = "billing_portal"


class ClientPortalAdminMixin:
    """For ClientAdmin: a read-only "Billing portal link" field and the view behind its button."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and PORTAL_FIELD not in fields:
            fields.append(PORTAL_FIELD)
        return fields

    @display(description="Billing portal link")
    def billing_portal(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "-"
        if not obj.stripe_customer_id or obj.stripe_customer_id.startswith("cus_local_"):
            return "No Stripe customer yet: the link works once the client has paid through Stripe."
        link = billing_portal_link(client=obj)
        opener = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_billing_portal", args=[obj.pk])
        return format_html(
            '<span class="block break-all select-all font-mono text-xs" data-billing-portal-link>{}</span>'
            '<span class="block mt-1 text-xs">Copy it into a text or email: each click opens a fresh Stripe '
            "page where the client updates their card or cancels. "
            '<a class="underline font-semibold" href="{}" target="_blank" rel="noopener">Open the portal now</a></span>',
            link, opener,
        )

    def get_urls(self):
        opts = self.model._meta
        return [
            path("<path:object_id>/billing-portal/", self.admin_site.admin_view(self.billing_portal_view),
                 name=f"{opts.app_label}_{opts.model_name}_billing_portal"),
            *super().get_urls(),
        ]

    def billing_portal_view(self, request, object_id):
        """Create a portal session for this client (one the user may see) and go there."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such client")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        opts = self.model._meta
        change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        result = billing_portal_open(client=obj, return_url=request.build_absolute_uri(change_url))
        if not result.ok:
            messages.error(request, result.message)
            return HttpResponseRedirect(change_url)
        return HttpResponseRedirect(result.url)
