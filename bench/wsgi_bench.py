"""The project's WSGI application with one extra URL, `/__hello__`, for bench/tracking.py.

The hello-world view runs through the same settings and middleware stack as every other
view; only this module's urlconf knows it, so the product's URLs are untouched. Served as

    gunicorn --chdir <project> --pythonpath <project>/bench wsgi_bench:application
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.production")
application = get_wsgi_application()

# Imported after setup: the project's urlconf loads the admin, which needs the app registry.
from django.conf import settings as django_settings  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from settings.urls import urlpatterns as project_urlpatterns  # noqa: E402


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello", content_type="text/plain")


urlpatterns = [path("__hello__", hello), *project_urlpatterns]
# Set before the first request; the resolver reads ROOT_URLCONF per request.
django_settings.ROOT_URLCONF = __name__
