import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_safe,
)

from . import health
from .access import public
from .models import Heartbeat
from .tasks import ping


@public
@require_safe  # GET and HEAD: health checkers probe the landing page with HEAD
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "landing.html")


@public
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    # Only "ok"/"fail" per service: the reason goes to the log, never to an anonymous caller.
    # The figures given are how many requests' alerts, e-mails and receipts are failing
    # ("alerts_failing", "emails_failing", "receipts_failing"), so that the monitoring page
    # says how bad it is (the references and errors are on the lead dashboard).
    results = health.checks()
    healthy = all(results.values())
    body: dict = {
        "status": "ok" if healthy else "fail",
        "checks": {name: "ok" if ok else "fail" for name, ok in results.items()},
    }
    if results["database"]:
        for name, count in health.failing_counts().items():
            if count:
                body[f"{name}_failing"] = count
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_http_methods(["GET", "POST"])
def ops_status(request: HttpRequest) -> HttpResponse:
    """Staff only: the services, when beat last fired, and a button that sends a ping task from
    this web process to a worker (the row it writes proves the round trip)."""
    if not request.user.is_staff:
        raise Http404
    if request.method == "POST":
        nonce = uuid.uuid4().hex
        ping.delay(nonce)
        messages.info(
            request,
            _("Ping %(nonce)s sent; reload to see when a worker ran it.") % {"nonce": nonce[:8]},
        )
        return redirect("ops_status")
    now = timezone.now()
    heartbeats = [
        {"name": hb.name, "seen_at": hb.seen_at, "age": int((now - hb.seen_at).total_seconds())}
        for hb in Heartbeat.objects.order_by("-seen_at")[:20]
    ]
    return render(request, "ops_status.html", {"checks": health.checks(), "heartbeats": heartbeats})


@public
def rate_limited(request: HttpRequest, exception=None) -> HttpResponse:
    """django-ratelimit sends refused requests here: a clear page, status 429."""
    return render(request, "rate_limited.html", status=429)
