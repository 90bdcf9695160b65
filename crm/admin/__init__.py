"""The CRM admin, one module per domain. Importing registers every ModelAdmin."""

from . import billing, imports, leads, messaging, ops, previews, security, team  # noqa: F401
