"""The CRM admin, one module per domain. Importing registers every ModelAdmin."""

from . import api_tokens, billing, imports, leads, messaging, ops, previews, saved_replies, security, team  # noqa: F401
