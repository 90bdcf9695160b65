"""Public preview pages. Reads only; tracking arrives with the preview issue."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from crm.selectors.leads import lead_get_by_preview_token


def preview_page(request: HttpRequest, token: str) -> HttpResponse:
    lead = lead_get_by_preview_token(token=token)
    if lead is None:
        raise Http404("No such preview")
    return render(request, "preview/page.html", {"lead": lead})
