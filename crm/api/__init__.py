"""The JSON API for other tools, /api/v1/ (django-ninja: typed schemas, an OpenAPI 3 document at
/api/v1/openapi.json, and interactive docs at /api/v1/docs from ninja's bundled static files)."""

from ninja import NinjaAPI

from crm.api import imports, leads, messages, notifications, revenue
from crm.api.auth import TokenAuth
from crm.api.errors import exception_handlers_install
from crm.api.rendering import JsonRenderer

api = NinjaAPI(
    title="Outreach CRM API", version="1", urls_namespace="api-v1", auth=TokenAuth(), renderer=JsonRenderer(),
    description="Send `Authorization: Bearer <token>` (tokens: admin -> API tokens). A rep's token sees "
                "only the rep's rows. Errors: {\"error\": {\"code\", \"message\", \"fields\"?}}. POSTs that "
                "create accept an `Idempotency-Key` header.",
)
exception_handlers_install(api)
for module in (leads, imports, messages, revenue, notifications):
    api.add_router("", module.router)
