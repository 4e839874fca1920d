"""The benchmark steps that run inside the portal, with Django configured from the bench
environment exactly like the web and worker processes: `python -m bench.portal_steps <step>`.
bench/run.py starts one process per step (the database is chosen by DATABASE_URL at start-up)
and reads the JSON object printed on the last line of stdout."""

import json
import os
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from django.apps import apps  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, F  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from authorities.constants import (  # noqa: E402
    EU_MEMBER_STATES,
    AuthorityKind,
    AuthorityStatus,
    Instrument,
)
from authorities.models import Authority, User  # noqa: E402
from authorities.selectors import officer_block_reason  # noqa: E402
from requests_app import instruments, selectors  # noqa: E402
from requests_app import services as request_services  # noqa: E402
from requests_app.alerts import deadline_sweep, request_schedule  # noqa: E402
from requests_app.api import services as api_services  # noqa: E402
from requests_app.api.models import ApiClient  # noqa: E402
from requests_app.models import OPEN_STATUSES, LegalRequest, RequestEvent, Status  # noqa: E402
from requests_app.notifications import (  # noqa: E402
    notifications_due,
    notifications_failing,
    notifications_hand_off,
)

REVIEWER = "reviewer1@platform.example"
OFFICER_PREFIX = "bench-officer@"
OPEN = sorted(OPEN_STATUSES)


def users() -> dict:
    """Give the bench users a password (BENCH_PASSWORD) and a fresh TOTP device; return the
    device parameters, so the driver computes codes and logs in through the real pages."""
    password = os.environ["BENCH_PASSWORD"]
    out = {}
    for user in (
        User.objects.get(email=REVIEWER),
        User.objects.get(email__startswith=OFFICER_PREFIX),
    ):
        user.set_password(password)
        user.save(update_fields=["password"])
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        out[user.email] = {
            "key": device.key,
            "step": device.step,
            "t0": device.t0,
            "digits": device.digits,
            "drift": device.drift,
        }
    return out


# The models bench/seed.sql fills.
SEEDED_MODELS = (
    "authorities.Authority",
    "authorities.AuthorityDomain",
    "authorities.User",
    "requests_app.LegalRequest",
    "requests_app.RequestTarget",
    "requests_app.RequestEvent",
    "requests_app.Notification",
    "requests_app.ReferenceCounter",
)


def column_defaults(action: str, columns: list | None = None) -> dict:
    """Columns added after bench/seed.sql was written: `set` gives every NOT NULL column without
    a database default its model field's default while the seed runs (so a new column does not
    break the seed, and holds what the application would have written); `drop` takes those
    defaults away again, leaving the schema as the migrations made it."""
    done = []
    with connection.cursor() as cursor:
        if action == "drop":
            for table, column in columns or []:
                cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP DEFAULT')
            return {"dropped": columns or []}
        for label in SEEDED_MODELS:
            model = apps.get_model(label)
            table = model._meta.db_table
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
                [table],
            )
            bare = {row[0] for row in cursor.fetchall()}
            for field in model._meta.concrete_fields:
                if field.column not in bare:
                    continue
                # A field without a default gets what Django saves for it ('' for a blank text
                # field); None means the seed must fill the column itself.
                value = field.get_default()
                if value is None or isinstance(value, uuid.UUID):
                    continue  # unique per row: the seed gives its own
                literal = connection.ops.compose_sql(
                    "%s", [field.get_db_prep_save(value, connection)]
                )
                cursor.execute(
                    f'ALTER TABLE "{table}" ALTER COLUMN "{field.column}" SET DEFAULT {literal}'
                )
                done.append([table, field.column])
    return {"set": done}


def targets() -> dict:
    """The rows the HTTP runs ask for: a deep cursor, a reference to search, a request to open."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM requests_app_legalrequest WHERE status = ANY(%s)", [OPEN]
        )
        open_count = cursor.fetchone()[0]
        # The 1,000th page of 50 (row 50,000), or at 90 % of the queue when it is shorter.
        row = min(50_000, int(open_count * 0.9))
        cursor.execute(
            "SELECT due_at, id FROM requests_app_legalrequest WHERE status = ANY(%s) "
            "ORDER BY due_at ASC NULLS LAST, id OFFSET %s LIMIT 1",
            [OPEN, row - 1],
        )
        due_at, last_id = cursor.fetchone()
        # An open request the reviewer searches by reference (open: the default queue shows it).
        cursor.execute(
            "SELECT reference FROM requests_app_legalrequest WHERE status = ANY(%s) AND id >= 123 "
            "ORDER BY id LIMIT 1",
            [OPEN],
        )
        reference = cursor.fetchone()[0]
        # A request of an ordinary officer (not the one with many requests), with its events.
        cursor.execute(
            "SELECT public_id FROM requests_app_legalrequest WHERE status = 'in_review' "
            "AND officer_id <> 101 ORDER BY id LIMIT 1 OFFSET 7"
        )
        detail = str(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM requests_app_legalrequest WHERE officer_id = 101")
        officer_requests = cursor.fetchone()[0]
    cursor_value = f"{due_at.isoformat() if due_at else ''}|{last_id}"
    return {
        "open_requests": open_count,
        "deep_row": row,
        "deep_cursor": cursor_value,
        "search_reference": reference,
        "detail_public_id": detail,
        "officer_requests": officer_requests,
    }


def _explain(sql: str, params: list | None = None) -> tuple[str, float]:
    """The plan as run (EXPLAIN ANALYZE, BUFFERS), then the time of a second, plain run."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.fetchall()
    return plan, (time.perf_counter() - started) * 1000


def _proposals(first_page_sql: str, spots: dict) -> dict[str, tuple[str, list]]:
    """The deep page and the search as the queue could ask for them (docs/performance.md), on
    the first page's query: what they would cost, next to what they cost now."""
    due, _, last_id = spots["deep_cursor"].partition("|")
    table = '"requests_app_legalrequest"'
    deep = first_page_sql.replace(
        " ORDER BY ",
        f' AND ROW({table}."due_at", {table}."id") > ROW(%s::timestamptz, %s) ORDER BY ',
        1,
    )
    union = (
        "SELECT id FROM requests_app_legalrequest WHERE reference = upper(%s) "
        "UNION SELECT id FROM requests_app_legalrequest WHERE case_reference = %s "
        "UNION SELECT request_id FROM requests_app_requesttarget WHERE value IN (lower(%s), %s)"
    )
    search = first_page_sql.replace(" ORDER BY ", f' AND {table}."id" IN ({union}) ORDER BY ', 1)
    q = spots["search_reference"]
    return {
        "proposed_queue_deep_row_comparison": (deep, [due, int(last_id)]),
        "proposed_queue_search_union": (search, [q, q, q, q]),
    }


def _queue_sql(user, filters, cursor=None) -> str:
    with CaptureQueriesContext(connection) as captured:
        selectors.review_queue(user, filters, cursor=cursor)
    # The page query is the one with the keyset order and LIMIT 51 (the others are the
    # reviewer's groups and status_counts).
    return next(q["sql"] for q in captured.captured_queries if "LIMIT 51" in q["sql"])


def explain() -> dict:
    """The plans of the queue's queries and what status_counts costs, at this database's size."""
    reviewer = User.objects.get(email=REVIEWER)
    spots = targets()
    QF = selectors.QueueFilters
    queries = {
        "queue_first": _queue_sql(reviewer, QF()),
        "queue_deep": _queue_sql(reviewer, QF(), spots["deep_cursor"]),
        "queue_filtered": _queue_sql(
            reviewer, QF(country="FR", status="in_review", instrument="epoc")
        ),
        "queue_search": _queue_sql(reviewer, QF(q=spots["search_reference"])),
    }
    # status_counts when its cache misses: the GROUP BY over every submitted request.
    with CaptureQueriesContext(connection) as captured:
        list(
            LegalRequest.objects.exclude(status=Status.DRAFT)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
    queries["status_counts_group_by"] = captured.captured_queries[-1]["sql"]
    # The leads' failing-e-mail banner (requests_app.context_processors), on every lead page,
    # and /healthz: the outbox's one definition of failing.
    with CaptureQueriesContext(connection) as captured:
        notifications_failing().count()
    queries["lead_banner"] = captured.captured_queries[-1]["sql"]
    runs = {name: (sql, None) for name, sql in queries.items()}
    runs.update(_proposals(queries["queue_first"], spots))
    out = {}
    for name, (sql, params) in runs.items():
        plan, ms = _explain(sql, params)
        out[name] = {"sql": sql, "params": params, "plan": plan, "ms": round(ms, 2)}
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        selectors.status_counts(reviewer)
        timings.append((time.perf_counter() - started) * 1000)
    # What the queue pays for its counts now (cached under the newest event, docs/performance.md).
    out["status_counts_ms"] = {
        "median": round(statistics.median(timings), 2),
        "max": round(max(timings), 2),
        "runs": [round(t, 2) for t in timings],
    }
    return out


def settle() -> dict:
    """Sweep what is already due (the escalations of an earlier run's requests, what the HTTP
    runs submitted), so that the worker delivers it before the timed sweep: a run's lateness
    is then that of its own alerts, not of theirs queued ahead (a run at 22:44 on 2026-11-28
    had 11,000 such escalations ahead of its 10,000)."""
    swept = 0
    while found := deadline_sweep().requests:
        swept += found
    # And the outbox's due rows the bench worker never got: the acknowledgments the HTTP runs
    # queued went to gunicorn's queue, not the bench worker's, and the bench runs no beat to
    # hand them out again (sweep_notifications does in production).
    # All of them: a surge's withdrawals leave 1,000 notices, twice what the sweep's one call
    # reads, and the wait after this step waits for every one.
    due = notifications_due(limit=1_000_000)
    notifications_hand_off(due)
    return {"swept": swept, "handed_out": len(due)}


def sweep(due: int) -> dict:
    """Make `due` open requests reach their deadline now (one 'deadline' alert each), then run
    the deadline sweep until it finds nothing due, timing each call. Every alert it queues goes
    to the Celery queue the bench worker takes from (CELERY_TASK_DEFAULT_QUEUE).

    0. Sweep what is already due (untimed).
    1. Pick `due` open requests with a running clock, the least picked before first (lowest
       deadline_version: a database kept with --reuse-databases serves many runs), not the
       bench officer's.
    2. due_at = next_alert_at = now, deadline_changed_at one second earlier, a new deadline
       version: the fraction alerts fell before this version began, the first escalation is an
       hour away, so exactly the 'deadline' alert is due.
    3. deadline_sweep() as beat calls it (batch of 1,000), again and again until it finds nothing.
    """
    # Whatever was already due (the requests the HTTP runs submitted) is swept first, untimed.
    while deadline_sweep().requests:
        pass
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH picked AS (
                SELECT id FROM requests_app_legalrequest
                WHERE status IN ('submitted', 'in_review') AND due_at IS NOT NULL
                  AND officer_id <> 101
                ORDER BY deadline_version, id LIMIT %s
            )
            UPDATE requests_app_legalrequest AS r
            SET due_at = date_trunc('second', now()), next_alert_at = date_trunc('second', now()),
                deadline_changed_at = date_trunc('second', now()) - interval '1 second',
                deadline_version = r.deadline_version + 1
            FROM picked WHERE r.id = picked.id
            """,
            [due],
        )
        marked = cursor.rowcount
        cursor.execute("SELECT coalesce(max(id), 0) FROM requests_app_notification")
        since_id = cursor.fetchone()[0]
    started = time.perf_counter()
    batches = []
    queued = 0
    while True:
        t0 = time.perf_counter()
        result = deadline_sweep()
        if result.requests == 0:
            break
        batches.append(round(time.perf_counter() - t0, 3))
        queued += result.queued
    return {
        "marked": marked,
        "queued": queued,
        "seconds": round(time.perf_counter() - started, 3),
        "batch_seconds": batches,
        "since_notification_id": since_id,
        "swept_at": timezone.now().isoformat(),
    }


def alerts_report(since_id: int) -> dict:
    """What the worker did with the alerts queued after `since_id`: sent, lateness, throughput."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE state = 'sent'),
                   count(DISTINCT message_id) FILTER (WHERE state = 'sent'),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM late)),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM late)),
                   max(extract(epoch FROM late)),
                   extract(epoch FROM max(sent_at) - min(due_at)),
                   extract(epoch FROM max(sent_at) - min(sent_at)),
                   count(*) FILTER (WHERE attempts > 1)
            FROM (SELECT *, sent_at - due_at AS late FROM requests_app_notification) AS n
            WHERE id > %s AND alert_kind = 'deadline'
            """,
            [since_id],
        )
        row = cursor.fetchone()
    keys = [
        "queued",
        "sent",
        "unique_message_ids",
        "lateness_p50_s",
        "lateness_p99_s",
        "lateness_max_s",
        "due_to_last_sent_s",
        "first_to_last_sent_s",
        "retried",
    ]
    return _figures(keys, row)


# --- The API surge (issue 19, bench/surge.py) ---------------------------------------------------

SURGE_CLIENT_NAME = "Bench surge"
SURGE_STAFF = "bench-staff@platform.example"
# The case reference of every surge order starts with this and the run's tag.
SURGE_PREFIX = "SURGE-"


def surge_clients(count: int) -> dict:
    """`count` API clients with the submit scope, one per officer of a distinct authority that
    the registry lets issue TCO removal orders (kind TCO authority, TCO among its instruments,
    active, the officer in good standing), registered by the officer and approved by staff
    through the API services, as in the pages. The clients of earlier surges are revoked."""
    staff = User.objects.filter(email=SURGE_STAFF).first()
    if staff is None:
        # The seed has no platform staff (it approves officers by SQL): the one who approves
        # API clients, without a password (it never logs in).
        staff = User.objects.create_user(
            SURGE_STAFF, None, full_name="Bench staff", is_staff=True, is_active=True
        )
    for client in ApiClient.objects.filter(name=SURGE_CLIENT_NAME, revoked_at__isnull=True):
        api_services.api_client_revoke(user=staff, client=client)
    rule = instruments.rule_for(Instrument.TCO_REMOVAL)
    authorities = (
        Authority.objects.filter(
            kind=AuthorityKind.TCO_AUTHORITY,
            status=AuthorityStatus.ACTIVE,
            instruments__contains=[Instrument.TCO_REMOVAL],
        )
        .exclude(officers__pk=101)  # not the bench officer's (the pages' runs use it)
        .order_by("pk")
    )
    out = []
    for authority in authorities:
        if not (authority.kind in rule.issuer_kinds and authority.may_issue(rule.code)):
            continue
        officer = (
            User.objects.filter(authority=authority, is_active=True, approved_at__isnull=False)
            .order_by("pk")
            .first()
        )
        if officer is None or officer_block_reason(officer) is not None:
            continue
        client, token = api_services.api_client_register(
            officer=officer, name=SURGE_CLIENT_NAME, scopes=["read", "submit"], days=1
        )
        api_services.api_client_approve(staff=staff, client=client)
        out.append({"officer": officer.email, "authority": authority.pk, "token": token})
        if len(out) == count:
            break
    if len(out) < count:
        raise SystemExit(f"only {len(out)} TCO authorities with an officer in good standing")
    return {"clients": out}


def _surge_requests(tag: str):
    return LegalRequest.objects.filter(case_reference__startswith=f"{SURGE_PREFIX}{tag}-")


def surge_submitted(tag: str) -> dict:
    """What the database holds of the surge's orders: each acknowledged order must be
    submitted, numbered, with its clock started (received_at, a 1-hour deadline, the sweep's
    next look) and its sealed receipt."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE r.status = 'submitted'),
                   count(*) FILTER (WHERE r.status = 'draft'),
                   count(*) FILTER (WHERE r.received_at IS NOT NULL AND r.due_at IS NOT NULL
                                    AND r.reference IS NOT NULL AND r.next_alert_at IS NOT NULL),
                   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM requests_app_receipt AS x
                                                  WHERE x.request_id = r.id)),
                   min(extract(epoch FROM r.due_at - r.received_at)),
                   max(extract(epoch FROM r.due_at - r.received_at)),
                   min(r.received_at), max(r.received_at)
            FROM requests_app_legalrequest AS r
            WHERE r.case_reference LIKE %s AND r.instrument = %s
            """,
            [f"{SURGE_PREFIX}{tag}-%", Instrument.TCO_REMOVAL],
        )
        row = cursor.fetchone()
    keys = [
        "orders",
        "submitted",
        "drafts",
        "clock_started",
        "with_receipt",
        "due_minus_received_min_s",
        "due_minus_received_max_s",
        "first_received_at",
        "last_received_at",
    ]
    out = dict(zip(keys, row, strict=True))
    for key in ("due_minus_received_min_s", "due_minus_received_max_s"):
        out[key] = round(float(out[key]), 3) if out[key] is not None else None
    return out


def surge_shift(tag: str, kind: str, threshold: int, lead_seconds: int) -> dict:
    """Move the whole timeline of the surge's open orders back by one offset, so that the
    earliest of their (kind, threshold) alerts falls due `lead_seconds` from now and the others
    follow with the spread their submissions had. Received, created, the deadlines, the
    deadline version's start and the events move alike; `next_alert_at` is recomputed by the
    portal's own rule (alerts.request_schedule) at the new times. The deadline version does
    not change: the alerts already sent stay sent (one row per version and threshold)."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            _surge_requests(tag)
            .filter(status__in=OPEN_STATUSES, due_at__isnull=False)
            .select_for_update()
            .order_by("pk")
        )
        if not rows:
            raise SystemExit(f"no open surge orders of run {tag}")

        def alert_time(legal_request: LegalRequest) -> datetime:
            # Every alert of the deadline as the portal schedules it, seen from the deadline.
            specs, _ = request_schedule(legal_request, legal_request.due_at)
            return next(s.at for s in specs if s.kind == kind and s.threshold == threshold)

        offset = min(alert_time(r) for r in rows) - (now + timedelta(seconds=lead_seconds))
        shifted = ("created_at", "received_at", "due_at", "legal_due_at", "deadline_changed_at")
        due_times = []
        for legal_request in rows:
            for name in shifted:
                value = getattr(legal_request, name)
                if value is not None:
                    setattr(legal_request, name, value - offset)
            due, legal_request.next_alert_at = request_schedule(legal_request, now)
            measured = alert_time(legal_request)
            assert measured > now and all(s.at < measured for s in due), "shifted onto its alert"
            due_times.append(measured)
        LegalRequest.objects.bulk_update(rows, [*shifted, "next_alert_at"], batch_size=500)
        RequestEvent.objects.filter(request__in=rows).update(at=F("at") - offset)
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM requests_app_notification")
        since_id = cursor.fetchone()[0]
    return {
        "orders": len(rows),
        "offset_s": round(offset.total_seconds(), 3),
        "shifted_at": now.isoformat(),
        "first_due": min(due_times).isoformat(),
        "last_due": max(due_times).isoformat(),
        "since_notification_id": since_id,
    }


def surge_alerts(tag: str, kind: str, threshold: int) -> dict:
    """The (kind, threshold) alerts of the surge's orders as the outbox recorded them:
    how many, sent, lateness (sent_at - due_at, the alert's scheduled time) and their
    Message-IDs, which the driver looks for at the SMTP sink."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE n.state = 'sent'),
                   count(DISTINCT n.request_id) FILTER (WHERE n.state = 'sent'),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM late)),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM late)),
                   max(extract(epoch FROM late)), min(extract(epoch FROM late)),
                   count(*) FILTER (WHERE n.attempts > 1),
                   count(*) FILTER (WHERE n.state IN ('failed', 'cancelled')),
                   min(n.due_at), max(n.due_at), max(n.sent_at),
                   array_agg(n.message_id) FILTER (WHERE n.state = 'sent')
            FROM (SELECT *, sent_at - due_at AS late FROM requests_app_notification) AS n
            JOIN requests_app_legalrequest AS r ON r.id = n.request_id
            WHERE r.case_reference LIKE %s AND n.alert_kind = %s AND n.threshold = %s
            """,
            [f"{SURGE_PREFIX}{tag}-%", kind, threshold],
        )
        row = cursor.fetchone()
    keys = [
        "queued",
        "sent",
        "requests_alerted",
        "lateness_p50_s",
        "lateness_p99_s",
        "lateness_max_s",
        "lateness_min_s",
        "retried",
        "failed_or_cancelled",
        "first_due",
        "last_due",
        "last_sent",
        "message_ids",
    ]
    out = _figures(keys, row)
    out["message_ids"] = out["message_ids"] or []
    return out


def _figures(keys: list[str], row) -> dict:
    """A row of figures by name, the seconds (keys ending in _s) rounded to milliseconds."""
    out = dict(zip(keys, row, strict=True))
    for key, value in out.items():
        if key.endswith("_s") and value is not None:
            out[key] = round(float(value), 3)
    return out


def surge_withdraw(tag: str) -> dict:
    """Withdraw the surge's open orders (every run's, when `tag` is empty) through the
    officer's service, so that their overdue escalations do not fall into later runs."""
    withdrawn = 0
    open_orders = (
        _surge_requests(tag)
        if tag
        else LegalRequest.objects.filter(case_reference__startswith=SURGE_PREFIX)
    )
    for legal_request in open_orders.filter(status__in=OPEN_STATUSES).select_related("officer"):
        request_services.legal_request_withdraw(
            officer=legal_request.officer,
            legal_request=legal_request,
            reason="Bench surge over: withdrawn so its escalations stay out of later runs.",
        )
        withdrawn += 1
    return {"withdrawn": withdrawn}


def main(argv: list[str]) -> None:
    step = argv[0]
    if step == "users":
        result = users()
    elif step == "countries":
        result = list(EU_MEMBER_STATES)
    elif step == "column_defaults":
        result = column_defaults(argv[1], json.loads(argv[2]) if len(argv) > 2 else None)
    elif step == "targets":
        result = targets()
    elif step == "explain":
        result = explain()
    elif step == "settle":
        result = settle()
    elif step == "sweep":
        result = sweep(int(argv[1]))
    elif step == "alerts_report":
        result = alerts_report(int(argv[1]))
    elif step == "surge_clients":
        result = surge_clients(int(argv[1]))
    elif step == "surge_submitted":
        result = surge_submitted(argv[1])
    elif step == "surge_shift":
        result = surge_shift(argv[1], argv[2], int(argv[3]), int(argv[4]))
    elif step == "surge_alerts":
        result = surge_alerts(argv[1], argv[2], int(argv[3]))
    elif step == "surge_withdraw":
        result = surge_withdraw(argv[1] if len(argv) > 1 else "")
    else:
        raise SystemExit(f"unknown step {step!r}")
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
