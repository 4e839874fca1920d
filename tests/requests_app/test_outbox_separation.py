"""One outbox, separate from the alerts (issue 14, finding 5).

- The alerts, the outbox and the tasks import each other in no loop (not even through an import
  inside a function): the outbox knows nothing of alerts and asks them through a hook.
- Nothing but the outbox writes an outbox row.
- "Failing e-mails" has one definition: the leads' banner, their dashboard, the daily digest
  and /healthz count the same rows, whatever state each row is in.
"""

import ast
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
from tests.conftest import verified_login

PACKAGE = Path(__file__).resolve().parents[2] / "requests_app"
OUTBOX_MODULES = {"requests_app.alerts", "requests_app.notifications", "requests_app.tasks"}
START = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("UTC"))


# --- The import graph -------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """requests_app's modules and the requests_app modules each imports, anywhere in the file
    (an import inside a function counts: it is the same dependency, only hidden)."""
    graph: dict[str, set[str]] = {}
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                # `from . import alerts` imports the module requests_app.alerts.
                targets |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles_through(graph: dict[str, set[str]], modules: set[str]) -> list[list[str]]:
    """Every import loop that passes through one of `modules` (depth-first, each loop once)."""
    found = []
    for start in sorted(modules):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    found.append([*path, start])
                elif nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return found


def test_import_graph_sees_imports_inside_functions():
    # The walker itself: a module whose only import is inside a function is still an edge.
    graph = import_graph()
    assert "requests_app.models" in graph["requests_app.alerts"]
    assert graph["requests_app.apps"] >= {"requests_app.alerts", "requests_app.notifications"}


def test_alerts_outbox_and_tasks_import_each_other_in_no_loop():
    graph = import_graph()

    assert cycles_through(graph, OUTBOX_MODULES) == []
    # The outbox knows nothing of the alerts, nor of the tasks that call it.
    assert not graph["requests_app.notifications"] & {"requests_app.alerts", "requests_app.tasks"}


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
        assert listed.count("<tr><td>") == len(expected)

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
