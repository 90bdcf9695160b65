"""Bearer-token authentication and the per-token rate limit, for every API operation."""

from django.http import HttpRequest
from ninja.security import HttpBearer

from crm.api.errors import ApiError
from crm.models import ApiToken
from crm.services.api_tokens import api_rate_take, api_token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = api_token_authenticate(raw=token)
        if found is None:
            return None
        decision = api_rate_take(token_id=found.pk)
        if not decision.allowed:
            raise ApiError(429, "rate_limited",
                           f"Too many requests for this token; retry in {decision.retry_after} s.",
                           headers={"Retry-After": str(decision.retry_after)})
        request.user = found.user  # the same user the admin scopes rows for
        return found


def require_perm(request: HttpRequest, perm: str) -> None:
    """The token's user must hold `perm` (as in the admin): reps hold fewer."""
    if not request.user.has_perm(perm):
        raise ApiError(403, "forbidden", f"Your role may not do this (needs {perm}).")
