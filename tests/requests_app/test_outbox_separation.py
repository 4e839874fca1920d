"""One outbox, separate from the alerts (issue 14, finding 5).

- The outbox knows nothing of the alerts nor of the tasks, not even through an import inside a
  function or through another module: it asks the alerts through a hook (and, like every module
  of requests_app, is in no import loop: tests/portal/test_import_graph.py).
- Nothing but the outbox writes an outbox row.
- "Failing e-mails" has one definition: the leads' banner, their dashboard, the daily digest
  and /healthz count the same rows, whatever state each row is in.
"""

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from portal.services import heartbeat_record
from requests_app import alerts
from requests_app.models import Notification
from requests_app.notifications import notifications_failing
from scripts import import_graph
from tests.conftest import verified_login

PACKAGE = Path(__file__).resolve().parents[2] / "requests_app"
START = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("UTC"))


# --- The import graph -------------------------------------------------------------------------
# The graph is scripts/import_graph.py's (grimp, every import statement, including those inside
# functions); tests/portal/test_import_graph.py already holds that requests_app's modules import
# each other in no loop, so the alerts, the outbox and the tasks are in none. What is the outbox's
# own rule is here.


@pytest.fixture(scope="module")
def graph():
    return import_graph.build()


def test_the_graph_sees_imports_inside_functions(graph):
    # requests_app.apps imports the alerts and the outbox only inside ready().
    imported = graph.find_modules_directly_imported_by("requests_app.apps")
    assert imported >= {"requests_app.alerts", "requests_app.notifications"}


def outbox_reaches(graph) -> list[tuple[str, ...]]:
    """Each chain of imports from the outbox to the alerts or to the tasks."""
    chains = (
        graph.find_shortest_chain(importer="requests_app.notifications", imported=other)
        for other in ("requests_app.alerts", "requests_app.tasks")
    )
    return [chain for chain in chains if chain]


def test_the_outbox_knows_nothing_of_the_alerts_nor_of_the_tasks(graph):
    # Not even through another module: the outbox asks the alerts through a hook.
    assert outbox_reaches(graph) == []


def test_an_outbox_that_reaches_the_alerts_through_another_module_is_seen():
    changed = import_graph.build()  # its own: the other tests' graph stays the real one
    changed.add_import(importer="requests_app.models", imported="requests_app.alerts")
    assert outbox_reaches(changed) == [
        ("requests_app.notifications", "requests_app.models", "requests_app.alerts")
    ]


# Notification.objects.create(...), Notification(...) (not the model's own class statement).
WRITES_A_ROW = r"(?<!class )Notification(\.objects\.(create|get_or_create|bulk_create)|\()"


def test_the_outbox_has_one_enqueue_function():
    # Nothing but the outbox writes an outbox row: every caller goes through
    # notifications_enqueue.
    writers = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts and re.search(WRITES_A_ROW, path.read_text())
    ]
    assert writers == ["requests_app/notifications.py"]


# --- One definition of failing ----------------------------------------------------------------


def outbox_row(key: str, state: str, attempts: int) -> Notification:
    return Notification.objects.create(
        key=key,
        recipients=["lead@platform.example"],
        template="daily_digest",
        state=state,
        attempts=attempts,
        send_after=START + timedelta(hours=1),
        lease_until=START + timedelta(minutes=5) if state == "sending" else None,
        last_error="SMTPServerDisconnected: gone" if attempts else "",
    )


# Each state, with fewer attempts than PORTAL_ALERT_FAILURE_BANNER (3) and with as many or more.
ROWS = [
    ("pending-new", "pending", 0, False),
    ("pending-retry", "pending", 2, False),
    ("sending-first", "sending", 1, False),
    ("sending-retry-of-failing", "sending", 4, True),
    ("failed", "failed", 3, True),
    ("failed-long", "failed", 7, True),
    ("sent-after-failures", "sent", 3, False),
    ("cancelled-after-failures", "cancelled", 3, False),
]


@pytest.mark.django_db
def test_banner_dashboard_digest_and_healthz_agree_on_failing_emails(client, lead):
    with time_machine.travel(START, tick=False):
        for key, state, attempts, _ in ROWS:
            outbox_row(key, state, attempts)
        heartbeat_record(name=alerts.SWEEP_HEARTBEAT)
        expected = {key for key, _, _, failing in ROWS if failing}

        assert set(notifications_failing().values_list("key", flat=True)) == expected

        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["emails_failing"] == len(expected)
        assert health.json()["checks"]["emails"] == "fail"

        verified_login(client, lead)
        page = client.get(reverse("review:dashboard")).content.decode()
        assert f"{len(expected)} e-mails (deadline alerts or notices) keep failing" in page
        listed = re.search(r'id="failing-emails".*?</section>', page, re.S).group(0)
        assert listed.count("<tr><td data-label=") == len(expected)

        digest = alerts.daily_digest(now=START)
        assert digest.context["failing_emails"] == len(expected)


@pytest.mark.django_db
def test_healthz_is_ok_again_once_the_failing_email_is_sent(client):
    with time_machine.travel(START, tick=False):
        row = outbox_row("failed", "failed", 3)
        heartbeat_record(name=alerts.SWEEP_HEARTBEAT)
        assert client.get("/healthz").status_code == 503
        Notification.objects.filter(pk=row.pk).update(state="sent")
        response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert "emails_failing" not in response.json()
