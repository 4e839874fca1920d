"""/metrics: scraped through the test client with the bearer token and as verified staff, parsed
with prometheus_client's parser; the portal's figures match the rows each test made; anyone else
gets the 404 of a page that does not exist."""

import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from authorities.constants import Instrument
from portal.models import Heartbeat
from requests_app.models import LegalRequest, Notification, Status
from tests.conftest import verified_login
from tests.processes import python_in_portal
from tests.security.test_headers_and_csrf import check_headers

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
TOKEN = "metrics-token-for-tests-0123456789abcdef"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.PORTAL_METRICS_TOKEN = TOKEN
    settings.PORTAL_ALERT_FAILURE_BANNER = 3


def scrape(client: Client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family for family in families}


def value(families: dict, name: str, sample: str | None = None, **labels) -> float:
    family = families[name]
    wanted = sample or name
    found = [s.value for s in family.samples if s.name == wanted and s.labels == labels]
    assert len(found) == 1, (name, labels, family.samples)
    return found[0]


def scrape_with_token(client: Client) -> dict:
    return scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def make_request(officer, n: int, instrument: str, status: str, due_in: timedelta | None, **kw):
    return LegalRequest.objects.create(
        reference=f"LR-2026-{n:06d}",
        instrument=instrument,
        status=status,
        authority=officer.authority,
        officer=officer,
        received_at=NOW - timedelta(days=1),
        due_at=NOW + due_in if due_in is not None else None,
        **kw,
    )


def make_notification(key: str, *, created: timedelta, state: str, **fields) -> Notification:
    return Notification.objects.create(
        key=key,
        recipients=["reviewer@platform.example"],
        template="deadline_alert",
        state=state,
        created_at=NOW - created,
        **fields,
    )


@pytest.fixture
def rows(officer):
    """Three open EPOCs (one overdue, the nearest deadline in 2 h), a DSA Art. 9 order waiting
    for a clarification, a TCO order whose alerts fail, a closed EPOC; the sweep finished 45 s
    ago; an outbox with one pending e-mail 10 minutes old, one failing after 3 attempts, and
    sent alerts 5 s and 90 s late."""
    # Past its internal target and its legal time limit (the closed one is not counted).
    make_request(
        officer,
        1,
        Instrument.EPOC,
        Status.SUBMITTED,
        -timedelta(hours=1),
        legal_due_at=NOW - timedelta(minutes=1),
    )
    make_request(officer, 2, Instrument.EPOC, Status.SUBMITTED, timedelta(hours=2))
    make_request(officer, 3, Instrument.EPOC, Status.IN_REVIEW, timedelta(days=5))
    make_request(officer, 4, Instrument.DSA_ART9, Status.CLARIFICATION, timedelta(days=1))
    failing = make_request(
        officer,
        5,
        Instrument.TCO_REMOVAL,
        Status.SUBMITTED,
        timedelta(hours=3),
        alert_failures=2,
        alert_error="KeyError: 'retired_instrument'",
    )
    make_request(
        officer,
        6,
        Instrument.EPOC,
        Status.CLOSED,
        -timedelta(days=3),
        legal_due_at=NOW - timedelta(days=2),
    )
    Heartbeat.objects.create(name="deadline-sweep", seen_at=NOW - timedelta(seconds=45))

    make_notification("ack:1", created=timedelta(minutes=10), state=Notification.State.PENDING)
    make_notification(
        "ack:2", created=timedelta(minutes=2), state=Notification.State.FAILED, attempts=3
    )
    due = NOW - timedelta(hours=1)
    for key, late, attempts in (("alert:a", 5, 1), ("alert:b", 90, 2)):
        make_notification(
            key,
            created=timedelta(hours=1),
            state=Notification.State.SENT,
            alert_kind=Notification.AlertKind.DEADLINE,
            request=failing,
            threshold=100 if key == "alert:a" else 50,
            deadline_version=1,
            due_at=due,
            sent_at=due + timedelta(seconds=late),
            attempts=attempts,
        )
    # A digest is not a deadline alert: its lateness is not counted.
    make_notification(
        "digest:2026-11-02",
        created=timedelta(hours=3),
        state=Notification.State.SENT,
        alert_kind=Notification.AlertKind.DIGEST,
        due_at=due,
        sent_at=due + timedelta(hours=2),
        attempts=1,
    )


def test_scrape_with_the_token_shows_the_figures_of_the_rows(client, rows):
    with time_machine.travel(NOW, tick=False):
        families = scrape_with_token(client)
    print("\nportal figures of one scrape (-s shows them):")
    for family in families.values():
        for sample in family.samples:
            if sample.name.startswith("portal_") and (sample.value or not sample.labels):
                print(f"  {sample.name}{sample.labels or ''} {sample.value}")

    open_requests = {
        (s.labels["status"], s.labels["instrument"]): s.value
        for s in families["portal_requests_open"].samples
    }
    assert open_requests[("submitted", "epoc")] == 2
    assert open_requests[("in_review", "epoc")] == 1
    assert open_requests[("clarification", "dsa_art9")] == 1
    assert open_requests[("submitted", "tco_removal")] == 1
    assert sum(open_requests.values()) == 5  # the closed EPOC is not open
    assert value(families, "portal_requests_overdue") == 1
    assert value(families, "portal_requests_past_legal_limit") == 1
    assert value(families, "portal_deadline_nearest_seconds") == 2 * 3600
    assert value(families, "portal_alerts_failing_requests") == 1
    assert value(families, "portal_deadline_sweep_age_seconds") == 45
    assert value(families, "portal_deadline_sweep_interval_seconds") == 60

    assert value(families, "portal_outbox_depth", state="pending") == 1
    assert value(families, "portal_outbox_depth", state="failed") == 1
    assert value(families, "portal_outbox_depth", state="sending") == 0
    assert value(families, "portal_outbox_oldest_pending_age_seconds") == 600
    assert value(families, "portal_outbox_failing") == 1
    # 3 failed attempts of the failing row, and the first of the alert sent at its second.
    assert value(families, "portal_outbox_send_failures", "portal_outbox_send_failures_total") == 4

    lateness = families["portal_alert_lateness_seconds"]
    assert lateness.type == "histogram"
    buckets = {
        float(s.labels["le"]): s.value
        for s in lateness.samples
        if s.name == "portal_alert_lateness_seconds_bucket"
    }
    assert buckets[1] == 0
    assert buckets[5] == buckets[60] == buckets[70] == 1
    assert buckets[120] == buckets[float("inf")] == 2
    assert value(families, lateness.name, "portal_alert_lateness_seconds_count") == 2
    assert value(families, lateness.name, "portal_alert_lateness_seconds_sum") == 95


def test_an_empty_outbox_and_no_sweep_yet(client):
    families = scrape_with_token(client)
    assert value(families, "portal_outbox_oldest_pending_age_seconds") == 0
    assert value(families, "portal_requests_overdue") == 0
    # No sweep ever finished, no deadline ahead: no sample (docs: alert on absent()).
    assert families["portal_deadline_sweep_age_seconds"].samples == []
    assert families["portal_deadline_nearest_seconds"].samples == []


def test_scrape_includes_django_prometheus_http_and_database_figures(client):
    scrape_with_token(client)
    families = scrape_with_token(client)
    by_view = families["django_http_requests_total_by_view_transport_method"]
    assert any(s.labels.get("view") == "metrics" and s.value >= 1 for s in by_view.samples)
    # The database backends are django-prometheus's: the first scrape's queries are counted.
    assert any(s.value >= 1 for s in families["django_db_execute"].samples)


def test_verified_staff_may_open_it(staff, rows):
    client = Client()
    verified_login(client, staff)
    with time_machine.travel(NOW, tick=False):
        families = scrape(client)
    assert value(families, "portal_requests_overdue") == 1


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-token-wrong-token-wrong-token-00",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer ",
    ],
)
def test_anonymous_and_wrong_tokens_get_a_not_found_page(client, rows, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **headers)
    nowhere = client.get("/no-such-page", **headers)
    assert response.status_code == nowhere.status_code == 404
    assert b"portal_" not in response.content and b"django_http" not in response.content
    # Not a login redirect either: that would say the page exists.
    assert "Location" not in response


def test_without_a_configured_token_no_bearer_header_is_accepted(client, settings):
    settings.PORTAL_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer None").status_code == 404


def test_officers_the_legal_team_and_unverified_staff_get_a_not_found_page(
    officer, reviewer, lead, staff
):
    for user in (officer, reviewer, lead):
        client = Client()
        verified_login(client, user)
        assert client.get("/metrics").status_code == 404, user
    # Staff logged in with the password only (no second factor yet).
    half = Client()
    half.force_login(staff)
    assert half.get("/metrics").status_code == 404


def test_post_is_refused_even_with_the_token(client):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    assert client.post("/metrics").status_code == 404


def test_a_scrape_costs_six_queries_whatever_the_number_of_rows(
    client, rows, officer, django_assert_max_num_queries
):
    for n in range(7, 27):
        make_request(officer, n, Instrument.EPOC, Status.SUBMITTED, timedelta(days=n))
    with django_assert_max_num_queries(6):
        client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_the_page_sends_the_security_headers_over_https(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", secure=True)
    assert response.status_code == 200
    assert check_headers(response) == []


@pytest.mark.slow
def test_a_short_token_and_an_unknown_log_format_stop_start_up():
    for name, value, message in (
        ("PORTAL_METRICS_TOKEN", "too-short", "PORTAL_METRICS_TOKEN must be at least 32"),
        ("PORTAL_LOG_FORMAT", "xml", "PORTAL_LOG_FORMAT must be json or text"),
    ):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", name: value}
        result = python_in_portal("import django; django.setup()", env=env)
        assert result.returncode != 0
        assert message in result.stderr
