"""Fault suite for the deadline alerts: real Celery workers and beat, a broker and an SMTP sink of
the test's own, the real test database, and one fault per scenario while the alerts go out.

Each scenario runs on both brokers the portal supports: a redis-server of its own (free loopback
port), and a RabbitMQ virtual host of its own on the machine's RabbitMQ (created for the scenario,
deleted after; the broker faults touch only that vhost). Shared services are never stopped.

Each scenario counts what the SMTP sink received, by Message-ID (stable per alert): every alert
must arrive (lost == 0), and a second copy is allowed only for a send the outbox flagged as
recovered after a crash (a worker died after the SMTP server took the message, before the row
said so). The table of all scenarios is printed at the end and written to var/test/.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import astuple, dataclass, fields
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import Connection, Exchange, Queue

from requests_app.models import LegalRequest, Notification, Status
from tests import processes
from tests.faults.smtp_sink import SmtpSink
from tests.processes import ROOT, celery_process, free_port, process_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REQUESTS = 50
# A 1-hour TCO removal order received 65 minutes ago: the 50 % and 80 % alerts and the deadline
# alert are due; the first overdue escalation is 55 minutes away, after the test.
ALERTS = [("fraction", 50), ("fraction", 80), ("deadline", 100)]
LEASE_SECONDS = 4  # a dead worker's send is taken over after this (production: 5 minutes)
TABLE_FILE = ROOT / "var" / "test" / "fault-table.txt"
# Each scenario's vhost is created on this RabbitMQ (rabbitmqctl must manage it: same machine).
RABBITMQ = os.environ.get("FAULTS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
BROKERS = ["redis", "rabbitmq"]


@dataclass
class FaultRow:
    scenario: str
    broker: str
    expected: int
    sent: int  # unique Message-IDs of expected alerts the sink received
    duplicated: int  # messages received minus unique ones
    lost: int  # expected alerts the sink never received
    recovered_after_crash: int  # rows flagged: a send after an expired lease
    retried: int  # rows that took more than one attempt
    seconds: float


def format_table(rows: list[FaultRow]) -> str:
    header = [f.name for f in fields(FaultRow)]
    lines = [header, *([str(v) for v in astuple(row)] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


@pytest.fixture(scope="module")
def fault_table(request):
    rows: list[FaultRow] = []
    yield rows
    text = "Alert fault table\n" + format_table(rows) + "\n"
    TABLE_FILE.parent.mkdir(parents=True, exist_ok=True)
    TABLE_FILE.write_text(text)
    # Past pytest's output capture, so the table shows in every run, passed or failed.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + text, end="")


class RedisServer:
    """A redis-server of the test's own, without persistence: a restart loses everything."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with (self.directory / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    "/usr/bin/redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.directory),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        assert wait_for(self._pings, 10), "redis-server did not start"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def _pings(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False


class RedisBroker:
    """The scenario's broker on its own redis-server."""

    kind = "redis"

    def __init__(self, directory: Path) -> None:
        self.server = RedisServer(directory)
        self.url = self.server.url
        self.env: dict[str, str] = {}  # the cache: the broker's Redis, next database

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def queued(self, queue: str) -> int:
        with self.server.client() as client:
            return int(client.llen(queue))

    def flushall(self) -> None:
        with self.server.client() as client:
            client.flushall()

    def restart(self) -> None:
        self.server.stop()  # no persistence: every queued task is gone
        time.sleep(1)
        self.server.start()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


class RabbitVhost:
    """The scenario's broker: a virtual host of its own on the machine's RabbitMQ, so closing
    connections or dropping queues touches no one else's."""

    kind = "rabbitmq"

    def __init__(self, directory: Path) -> None:
        self.vhost = f"faults-{uuid.uuid4().hex[:8]}"
        self.url = f"{RABBITMQ}/{self.vhost}"
        # As in production, the rate-limit cache is a Redis beside RabbitMQ: one of the test's own.
        self.cache = RedisServer(directory)
        self.env = {"CACHE_URL": self.cache.url}

    def start(self) -> None:
        self.cache.start()
        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")

    def stop(self) -> None:
        try:
            rabbitmqctl("delete_vhost", self.vhost)  # its queues and connections with it
        finally:
            self.cache.stop()

    def queued(self, queue: str) -> int:
        with Connection(self.url) as conn:
            try:
                return conn.default_channel.queue_declare(queue, passive=True).message_count
            except conn.channel_errors:  # NOT_FOUND: no queue, nothing queued
                return 0

    def close_connections(self) -> None:
        rabbitmqctl("close_all_connections", "--vhost", self.vhost, "fault test")

    def drop_queue(self, queue: str) -> int:
        """Delete the queue with every message in it (ready or delivered and unacknowledged),
        then declare it again as Celery does: RabbitMQ's analogue of a Redis restart without
        persistence. Returns how many ready messages went."""
        with Connection(self.url) as conn:
            dropped = conn.default_channel.queue_delete(queue)
            Queue(queue, Exchange(queue, "direct"), queue, channel=conn.default_channel).declare()
        return int(dropped or 0)


class Rig:
    """The scenario's world: requests with due alerts in the test database, a Redis, an SMTP
    sink, and the worker and beat processes started on them (all stopped by the fixture)."""

    def __init__(
        self, tmp_path: Path, stack: ExitStack, table: list[FaultRow], officer, broker: str
    ) -> None:
        self.tmp_path = tmp_path
        self.stack = stack
        self.table = table
        self.broker = RedisBroker(tmp_path) if broker == "redis" else RabbitVhost(tmp_path)
        stack.callback(self.broker.stop)
        self.broker.start()
        self.sink = stack.enter_context(SmtpSink())
        self.queue = f"faults-{uuid.uuid4().hex[:8]}"
        self.application_name = f"faulttest-{uuid.uuid4().hex[:8]}"
        self.env = process_env(
            DATABASE_URL=f"{processes.test_database_url()}?application_name={self.application_name}",
            CELERY_BROKER_URL=self.broker.url,
            **self.broker.env,
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            EMAIL_URL=f"smtp://127.0.0.1:{self.sink.port}",
            DJANGO_EMAIL_TIMEOUT="10",
            PORTAL_VAR_DIR=str(tmp_path),
            PORTAL_DEADLINE_SWEEP_SECONDS="1",
            PORTAL_NOTIFICATION_SWEEP_SECONDS="1",
            PORTAL_NOTIFICATION_LEASE_SECONDS=str(LEASE_SECONDS),
            PORTAL_HEARTBEAT_SECONDS="60",
        )
        self.logs: list[Path] = []
        self.workers: list[subprocess.Popen] = []
        self.request_ids = self._requests_with_due_alerts(officer)
        domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1]
        self.expected = {
            f"<alert.{pk}.{kind}.{threshold}.v1@{domain}>"
            for pk in self.request_ids
            for kind, threshold in ALERTS
        }
        self.started = time.monotonic()

    def poison_one_request(self) -> LegalRequest:
        """The last request's instrument becomes one the rule table does not know: its alerts
        cannot be computed, so none is expected from it."""
        pk = self.request_ids.pop()
        LegalRequest.objects.filter(pk=pk).update(instrument="retired_instrument")
        self.expected = {key for key in self.expected if not key.startswith(f"<alert.{pk}.")}
        return LegalRequest.objects.get(pk=pk)

    def broken_email(self, key: str, recipients: list[str], template: str) -> Notification:
        """An outbox row that cannot be sent (written as a bad edit or a retired template would
        leave it): due now, in the queue beside the alerts."""
        context = {"open": 1, "overdue": 0, "today": 0, "emergency": 0, "unassigned": 0}
        return Notification.objects.create(
            key=f"{key}:{self.queue}", recipients=recipients, template=template, context=context
        )

    def _requests_with_due_alerts(self, officer) -> list[int]:
        now = timezone.now()
        received = now - timedelta(minutes=65)
        rows = LegalRequest.objects.bulk_create(
            LegalRequest(
                reference=f"LR-FAULT-{i:04d}",
                instrument="tco_removal",
                status=Status.SUBMITTED,
                authority=officer.authority,
                officer=officer,
                received_at=received,
                due_at=received + timedelta(hours=1),
                deadline_version=1,
                deadline_changed_at=received,
                next_alert_at=now,
            )
            for i in range(REQUESTS)
        )
        return [row.pk for row in rows]

    def _start(self, name: str, *args: str, env: dict[str, str] | None = None):
        log = self.tmp_path / f"{name}.log"
        self.logs.append(log)
        proc = self.stack.enter_context(celery_process(*args, env=env or self.env, log=log))
        # Runs before celery_process's own exit: the scenario is over, no need for a warm
        # shutdown that waits for tasks to finish.
        self.stack.callback(self._kill_if_running, proc)
        return proc

    def worker(self, name: str, *, queues: str | None = None) -> subprocess.Popen:
        proc = self._start(
            name,
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "-Q",
            queues or self.queue,
            "-n",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel=INFO",
        )
        self.workers.append(proc)
        return proc

    def beat(self, name: str) -> subprocess.Popen:
        schedule = self.tmp_path / f"{name}-schedule"
        return self._start(name, "beat", "-s", str(schedule), "--loglevel=INFO")

    def kill_9(self, proc: subprocess.Popen) -> None:
        """The machine dies under the worker: the main process and its pool at once."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc in self.workers:
            self.workers.remove(proc)  # died on purpose: not a worker that gave up

    def _kill_if_running(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            self.kill_9(proc)

    def queued_tasks(self, queue: str | None = None) -> int:
        return self.broker.queued(queue or self.queue)

    def wait_for_received(self, count: int, timeout: float = 60) -> None:
        assert wait_for(lambda: len(self.sink.snapshot()) >= count, timeout), self.log_tails()

    def _all_sent(self) -> bool:
        if not self.expected <= set(self.sink.snapshot()):
            return False
        rows = Notification.objects.filter(request_id__in=self.request_ids)
        return rows.count() == len(self.expected) and not rows.exclude(state="sent").exists()

    def finish(self, scenario: str, *, timeout: float = 60, settle: float = 1.5) -> FaultRow:
        """Wait until every alert is in the sink and marked sent, give late duplicates time to
        show, then count and record the scenario's row."""
        wait_for(self._all_sent, timeout, interval=0.25)
        time.sleep(settle)
        received = self.sink.snapshot()
        unique = set(received)
        rows = Notification.objects.filter(request_id__in=self.request_ids)
        row = FaultRow(
            scenario=scenario,
            broker=self.broker.kind,
            expected=len(self.expected),
            sent=len(unique & self.expected),
            duplicated=len(received) - len(unique),
            lost=len(self.expected - unique),
            recovered_after_crash=rows.filter(recovered_after_crash=True).count(),
            retried=rows.filter(attempts__gt=1).count(),
            seconds=round(time.monotonic() - self.started, 1),
        )
        self.table.append(row)
        print(row)
        return row

    def assert_no_loss_and_only_flagged_duplicates(self, row: FaultRow) -> None:
        # A worker that stopped on an error it could not recover from consumes nothing more
        # (beat keeps queueing): that is a lost worker, whatever the outbox saved this time.
        stopped = [proc.args for proc in self.workers if proc.poll() is not None]
        assert not stopped, f"workers exited: {stopped}\n{self.log_tails()}"
        unexpected = set(self.sink.snapshot()) - self.expected
        assert not unexpected, f"messages for no alert of this scenario: {sorted(unexpected)[:5]}"
        assert row.lost == 0, f"{row}\n{self.log_tails()}"
        assert row.duplicated <= row.recovered_after_crash, f"{row}\n{self.log_tails()}"
        states = Notification.objects.filter(request_id__in=self.request_ids).values_list(
            "state", flat=True
        )
        assert set(states) == {"sent"}, f"{row}\n{self.log_tails()}"

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-2500:]}"
            for log in self.logs
            if log.exists()
        )


@pytest.fixture(params=BROKERS)
def rig(request, tmp_path, officer, reviewer, fault_table):
    """The reviewer is the on-duty legal team: the recipient of every alert (none is assigned)."""
    with ExitStack() as stack:
        yield Rig(tmp_path, stack, fault_table, officer, request.param)


def broker_only(kind: str):
    """For a fault that exists on one broker only (FLUSHALL, closing a vhost's connections)."""
    return pytest.mark.parametrize("rig", [kind], indirect=True)


def test_baseline_every_due_alert_is_delivered_once(rig):
    rig.worker("worker")
    rig.beat("beat")

    row = rig.finish("baseline")

    rig.assert_no_loss_and_only_flagged_duplicates(row)
    assert row.duplicated == 0
    assert row.recovered_after_crash == 0


def test_worker_killed_mid_send_loses_nothing_and_duplicates_only_flagged_sends(rig):
    first = rig.worker("worker-1")
    rig.beat("beat")
    rig.wait_for_received(30)
    rig.sink.delay = 5  # the SMTP server hangs before it answers: the worker dies waiting
    assert rig.sink.wait_in_flight(10), rig.log_tails()
    time.sleep(0.3)  # let the pool's other process get stuck in a send too
    rig.kill_9(first)
    rig.sink.delay = 0
    rig.worker("worker-2")

    row = rig.finish("worker kill -9 mid-send")

    rig.assert_no_loss_and_only_flagged_duplicates(row)
    # The kill landed mid-send: that send was taken over after its lease ran out. The rows
    # flagged are the first unsent row of each dead claim (or of each part of it, when the
    # takers get it in several tasks), not every row the dead claims held (65 to 70 of 150
    # before).
    assert 1 <= row.recovered_after_crash <= 10


@broker_only("redis")
def test_redis_flushall_mid_run_loses_no_alert(rig):
    rig.sink.delay = 0.02  # a little slower, so the flush finds tasks in the queue
    rig.worker("worker")
    rig.beat("beat")
    rig.wait_for_received(20)
    queued = rig.queued_tasks()
    rig.broker.flushall()
    rig.sink.delay = 0

    row = rig.finish("redis FLUSHALL mid-run")

    assert queued > 0, "the flush found no queued task: the scenario proved nothing"
    rig.assert_no_loss_and_only_flagged_duplicates(row)


@broker_only("redis")
def test_redis_restart_mid_run_loses_no_alert(rig):
    rig.sink.delay = 0.02
    rig.worker("worker")
    rig.beat("beat")
    rig.wait_for_received(20)
    queued = rig.queued_tasks()
    rig.broker.restart()
    rig.sink.delay = 0

    row = rig.finish("redis restart mid-run")

    assert queued > 0, "the restart found no queued task: the scenario proved nothing"
    rig.assert_no_loss_and_only_flagged_duplicates(row)


@broker_only("redis")
def test_redis_restarts_while_sends_are_in_flight_lose_no_alert_and_no_worker(rig):
    # Redis goes while the worker holds unacknowledged sends (acks_late), three times in a row:
    # kombu's clean-up of the lost connection raised AttributeError there and the worker stopped
    # consuming for good (portal/broker.py), while beat went on queueing.
    rig.sink.delay = 0.2  # each send holds its task unacknowledged for a while
    rig.worker("worker")
    rig.beat("beat")
    rig.wait_for_received(10)
    for _ in range(3):
        assert rig.sink.wait_in_flight(10), rig.log_tails()
        rig.broker.server.proc.kill()
        rig.broker.server.proc.wait()
        time.sleep(0.3)
        rig.broker.start()
        time.sleep(1.5)  # let the worker reconnect before the next loss
    rig.sink.delay = 0

    row = rig.finish("redis killed 3x, sends in flight")

    rig.assert_no_loss_and_only_flagged_duplicates(row)


@broker_only("rabbitmq")
def test_rabbitmq_connections_closed_mid_run_lose_no_alert(rig):
    rig.sink.delay = 0.02
    rig.worker("worker")
    rig.beat("beat")
    rig.wait_for_received(20)
    for _ in range(2):
        # Only this scenario's vhost: the worker's and beat's connections, sends in flight.
        assert rig.sink.wait_in_flight(10), rig.log_tails()
        rig.broker.close_connections()
        time.sleep(1)
    rig.sink.delay = 0

    row = rig.finish("rabbitmq vhost connections closed 2x")

    rig.assert_no_loss_and_only_flagged_duplicates(row)


@broker_only("rabbitmq")
def test_rabbitmq_queue_deleted_and_recreated_mid_run_loses_no_alert(rig):
    rig.sink.delay = 0.02
    rig.worker("worker")
    rig.beat("beat")
    rig.wait_for_received(20)
    dropped = rig.broker.drop_queue(rig.queue)
    rig.sink.delay = 0

    row = rig.finish("rabbitmq queue deleted, re-created")

    assert dropped > 0, "the queue held no task when deleted: the scenario proved nothing"
    rig.assert_no_loss_and_only_flagged_duplicates(row)


def test_two_beats_at_once_send_no_alert_twice(rig):
    rig.worker("worker-1")
    rig.worker("worker-2")
    rig.beat("beat-1")
    rig.beat("beat-2")

    row = rig.finish("two beats, two workers")

    rig.assert_no_loss_and_only_flagged_duplicates(row)
    assert row.duplicated == 0


def test_each_delivery_task_delivered_twice_sends_each_alert_once(rig):
    # The sweep (run once, in a process of its own) queues each alert's delivery task on one
    # queue; the test queues each again on a second; workers take from both at once, so the two
    # copies of a task run side by side.
    second_queue = f"{rig.queue}-again"
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from requests_app.alerts import deadline_sweep; deadline_sweep()",
        ],
        cwd=ROOT,
        env=rig.env,
        check=True,
        capture_output=True,
    )
    ids = list(
        Notification.objects.filter(request_id__in=rig.request_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(ids) == len(rig.expected)
    # The connection is named: Celery(broker=...) would lose to CELERY_BROKER_URL in this
    # process's environment (the shared Redis), and the copies would never reach the workers.
    publisher = Celery("faults", set_as_current=False)
    with publisher.connection_for_write(rig.broker.url) as conn:
        for pk in ids:
            publisher.send_task(
                "requests_app.tasks.deliver_notification",
                args=[pk],
                queue=second_queue,
                connection=conn,
            )
    assert rig.queued_tasks() > 0
    assert rig.queued_tasks(second_queue) == len(ids)
    rig.worker("worker-1", queues=f"{rig.queue},{second_queue}")
    rig.worker("worker-2", queues=f"{rig.queue},{second_queue}")

    row = rig.finish("every task delivered twice")

    rig.assert_no_loss_and_only_flagged_duplicates(row)
    assert row.duplicated == 0


def test_worker_database_connections_killed_mid_run_lose_no_alert(rig):
    rig.sink.delay = 0.02
    rig.worker("worker")
    rig.beat("beat")
    rig.wait_for_received(20)
    terminated = 0
    with connection.cursor() as cursor:
        for _ in range(10):
            # Only the worker's backends: the shared server and this test's own are untouched.
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()",
                [rig.application_name],
            )
            terminated += cursor.fetchone()[0]
            time.sleep(0.3)
    rig.sink.delay = 0

    row = rig.finish("postgres backends of worker terminated")

    assert terminated > 0, "no worker connection was terminated: the scenario proved nothing"
    rig.assert_no_loss_and_only_flagged_duplicates(row)
    # No worker died: a send whose connection dropped is recorded after a reconnect, not sent
    # again when its lease runs out.
    assert row.duplicated == 0


def test_smtp_temporary_failures_are_retried_until_delivered_once(rig):
    refused = 10
    rig.sink.refuse_first = refused
    rig.worker("worker")
    rig.beat("beat")

    # The first retry comes 30 seconds after a failure (the outbox's backoff).
    row = rig.finish("smtp 451 for first 10 messages", timeout=90)

    rig.assert_no_loss_and_only_flagged_duplicates(row)
    assert row.duplicated == 0
    retried = Notification.objects.filter(request_id__in=rig.request_ids, attempts__gt=1)
    assert retried.count() == refused
    assert all("451" in error for error in retried.values_list("last_error", flat=True))


def test_one_poison_request_and_two_broken_emails_fail_alone(rig):
    # Among the 50: a request whose alerts cannot be computed (an instrument code the rule table
    # does not know, a bad manual edit), and in the outbox an e-mail whose template is gone and
    # one with no valid address. Every other alert goes out; the bad ones are recorded as failing
    # (on the request, on the rows), not lost silently; the worker keeps going.
    poison = rig.poison_one_request()
    broken = [
        rig.broken_email("fault:no-template", ["legal@platform.example"], "retired_notice"),
        rig.broken_email("fault:bad-address", ["not an address"], "daily_digest"),
    ]
    rig.worker("worker")
    rig.beat("beat")

    row = rig.finish("1 poison request, 2 broken e-mails")

    rig.assert_no_loss_and_only_flagged_duplicates(row)
    assert row.duplicated == 0
    broken_rows = Notification.objects.filter(pk__in=[email.pk for email in broken])
    wait_for(lambda: all(row.attempts for row in broken_rows.all()), 10)
    poison.refresh_from_db()
    assert poison.alert_failures >= 1 and "retired_instrument" in poison.alert_error
    assert not Notification.objects.filter(request=poison).exists()
    for email, error in zip(broken, ("TemplateDoesNotExist", "no valid recipient"), strict=True):
        email.refresh_from_db()
        assert email.state != Notification.State.SENT
        assert email.attempts >= 1 and error in email.last_error, (email.state, email.last_error)
