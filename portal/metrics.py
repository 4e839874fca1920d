"""/metrics: what Prometheus scrapes (docs/operations.md has the scrape config and alert rules).

Two parts in one text page:
- django-prometheus's figures of this process (HTTP requests, latencies, database queries and
  errors, through its middleware and database backends; all gunicorn workers together when
  PROMETHEUS_MULTIPROC_DIR is set);
- the portal's own figures (open requests, deadlines, the sweep, the outbox, alert lateness),
  read from the database at each scrape by the collectors registered here (requests_app
  registers its own): the database is the one place that knows them for every process.

Never public. A scraper sends `Authorization: Bearer <PORTAL_METRICS_TOKEN>`; a logged-in staff
member with a verified second factor may open it in a browser. Anyone else gets the 404 of a page
that does not exist, whatever the method: an anonymous caller learns no figure, and not even that
a token would have helped.
"""

import hmac
import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.cache import never_cache
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .access import public

logger = logging.getLogger(__name__)

# The portal's own collectors; kept apart from prometheus_client's global registry, which holds
# per-process figures (and, with PROMETHEUS_MULTIPROC_DIR, is replaced by the files of all
# processes). auto_describe off: registering must not query the database at start-up.
PORTAL_REGISTRY = CollectorRegistry(auto_describe=False)


_registered: set[type] = set()


def collector_register(collector) -> None:
    """Add a collector once per class (an app's ready() may run twice in some test set-ups)."""
    if type(collector) not in _registered:
        _registered.add(type(collector))
        PORTAL_REGISTRY.register(collector)


def exposition(request: HttpRequest) -> bytes:
    """django-prometheus's page (its own handling of the multi-process directory) followed by
    the portal's figures; metric names do not overlap, so the two texts join into one page."""
    process_figures = ExportToDjangoView(request).content
    return process_figures + generate_latest(PORTAL_REGISTRY)


def bearer_token_ok(request: HttpRequest) -> bool:
    expected = settings.PORTAL_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def may_scrape(request: HttpRequest) -> bool:
    if bearer_token_ok(request):
        return True
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.is_verified())


@public  # a scraper has no session: the token is checked here, and anyone else gets a 404
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        if "Authorization" in request.headers:
            # The token is never logged; a wrong one is worth knowing (a rotated secret).
            logger.warning("metrics: scrape refused (wrong or unknown bearer token)")
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse(exposition(request), content_type=CONTENT_TYPE_LATEST)
