"""One error shape for every API answer that is not a success:
{"error": {"code": "...", "message": "...", "fields": {"field": ["problem", ...]}}}."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError


class ErrorBody(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] | None = None


class ErrorOut(Schema):
    error: ErrorBody


# The error statuses every operation may answer, documented in the schema for each.
ERROR_STATUSES = (400, 401, 403, 404, 409, 422, 429)
ERRORS = dict.fromkeys(ERROR_STATUSES, ErrorOut)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields, self.headers = status, code, message, fields, headers or {}


def error_response(api: NinjaAPI, request: HttpRequest, status: int, code: str, message: str,
                   fields: dict | None = None) -> HttpResponse:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return api.create_response(request, {"error": body}, status=status)


def django_validation_fields(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {name: [str(message) for error in errors for message in error.messages]
                for name, errors in exc.error_dict.items()}
    return {"__all__": list(exc.messages)}


def _schema_fields(exc: SchemaValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "form",
                                                                                "payload", "file")]
        fields.setdefault(".".join(location) or "__all__", []).append(str(error.get("msg", "is not valid")))
    return fields


def exception_handlers_install(api: NinjaAPI) -> None:
    """Answer every expected failure in the one shape (anything else is a bug and stays a 500)."""

    def on_api_error(request, exc: ApiError):
        response = error_response(api, request, exc.status, exc.code, exc.message, exc.fields)
        for name, value in exc.headers.items():
            response[name] = value
        return response

    def on_schema_error(request, exc: SchemaValidationError):
        return error_response(api, request, 422, "invalid", "The request is not valid.", _schema_fields(exc))

    def on_django_validation(request, exc: ValidationError):
        return error_response(api, request, 422, "invalid", "The request is not valid.",
                              django_validation_fields(exc))

    def on_auth(request, exc):
        return error_response(api, request, 401, "unauthenticated",
                              "Send a valid API token: 'Authorization: Bearer <token>' (tokens are made in "
                              "the admin under API tokens; a revoked token no longer works).")

    def on_denied(request, exc):
        return error_response(api, request, 403, "forbidden", str(exc) or "Your role may not do this.")

    def on_not_found(request, exc):
        return error_response(api, request, 404, "not_found", "Not found.")

    def on_http_error(request, exc: HttpError):
        return error_response(api, request, exc.status_code, "bad_request" if exc.status_code == 400 else "error",
                              str(exc))

    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(SchemaValidationError, on_schema_error)
    api.add_exception_handler(ValidationError, on_django_validation)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(PermissionDenied, on_denied)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(HttpError, on_http_error)
