from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import health
from .access import public


@public
@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "landing.html")


@public
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    # Only "ok"/"fail" per service: the reason goes to the log, never to an anonymous caller.
    results = health.checks()
    healthy = all(results.values())
    body = {
        "status": "ok" if healthy else "fail",
        "checks": {name: "ok" if ok else "fail" for name, ok in results.items()},
    }
    return JsonResponse(body, status=200 if healthy else 503)
