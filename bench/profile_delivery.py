"""CPU per alert delivered, measured in-process and independent of the machine's load: the
delivering thread's CPU time (time.thread_time), not wall time, with the SMTP sink in another
thread of this process (its CPU is not counted against the portal).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_l \\
        .venv/bin/python -m bench.profile_delivery 200 [--profile out.prof]

In one transaction rolled back at the end: `n` open requests reach their deadline, one
deadline_sweep() queues their alerts, and notifications_deliver() sends them DELIVERY_BATCH a
call, as the worker's tasks do. Prints one JSON line: CPU of the delivery, per alert, queries.
"""

import argparse
import cProfile
import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("EMAIL_URL", "smtp://127.0.0.1:2")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from requests_app.alerts import deadline_sweep  # noqa: E402
from requests_app.models import Notification  # noqa: E402
from requests_app.notifications import DELIVERY_BATCH, notifications_deliver  # noqa: E402
from tests.faults.smtp_sink import SmtpSink  # noqa: E402


class _Rollback(Exception):
    pass


def measure(n: int, profile_to: str | None) -> dict:
    out: dict = {}
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = os.environ.get(
            "BENCH_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
        )
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT coalesce(max(id), 0) FROM requests_app_notification")
                    since = cursor.fetchone()[0]
                    cursor.execute(
                        """
                        WITH picked AS (
                            SELECT id FROM requests_app_legalrequest
                            WHERE status IN ('submitted', 'in_review') AND due_at IS NOT NULL
                            ORDER BY id LIMIT %s
                        )
                        UPDATE requests_app_legalrequest AS r
                        SET due_at = now(), next_alert_at = now(),
                            deadline_changed_at = now() - interval '1 second',
                            deadline_version = r.deadline_version + 1
                        FROM picked WHERE r.id = picked.id
                        """,
                        [n],
                    )
                while deadline_sweep().requests:
                    pass
                ids = list(
                    Notification.objects.filter(id__gt=since, alert_kind="deadline")
                    .order_by("id")
                    .values_list("id", flat=True)
                )
                profiler = cProfile.Profile(time.thread_time) if profile_to else None
                received_before = len(sink.snapshot())
                with CaptureQueriesContext(connection) as queries:
                    if profiler:
                        profiler.enable()
                    cpu0, wall0 = time.thread_time(), time.perf_counter()
                    sent = 0
                    for start in range(0, len(ids), DELIVERY_BATCH):
                        sent += notifications_deliver(ids[start : start + DELIVERY_BATCH])
                    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
                    if profiler:
                        profiler.disable()
                        profiler.dump_stats(profile_to)
                out = {
                    "alerts": len(ids),
                    "sent": sent,
                    "sink_messages": len(sink.snapshot()) - received_before,
                    "delivery_cpu_s": round(cpu, 3),
                    "cpu_per_alert_ms": round(1000 * cpu / max(sent, 1), 2),
                    "wall_s": round(wall, 3),
                    "queries": len(queries),
                    "load_1min": round(os.getloadavg()[0], 2),
                }
                raise _Rollback
        except _Rollback:
            pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=200)
    parser.add_argument("--profile", help="write cProfile stats to this file")
    args = parser.parse_args()
    print(json.dumps(measure(args.n, args.profile)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
