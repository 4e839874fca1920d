"""A task travels through the real Redis broker to a real worker process and back (its result is
a row in the test database), and beat fires a periodic task."""

import uuid

import pytest

from portal.models import Heartbeat
from portal.tasks import ping
from tests.processes import celery_process, process_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_ping_task_goes_through_redis_to_a_worker_and_back(tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"  # our own queue: no other worker can take the task
    env = process_env(PORTAL_VAR_DIR=str(tmp_path))
    with celery_process(
        "worker",
        "--pool=solo",
        "-Q",
        queue,
        "--without-mingle",
        "--without-gossip",
        env=env,
        log=tmp_path / "worker.log",
    ):
        nonce = uuid.uuid4().hex
        ping.apply_async(args=[nonce], queue=queue)
        row = wait_for(lambda: Heartbeat.objects.filter(name=f"ping:{nonce}").first(), 60)
    assert row is not None, (tmp_path / "worker.log").read_text()[-3000:]


def test_beat_fires_the_periodic_heartbeat_and_a_worker_runs_it(tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = process_env(
        PORTAL_VAR_DIR=str(tmp_path), PORTAL_HEARTBEAT_SECONDS="1", CELERY_TASK_DEFAULT_QUEUE=queue
    )
    with (
        celery_process(
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-mingle",
            "--without-gossip",
            env=env,
            log=tmp_path / "worker.log",
        ),
        celery_process(
            "beat", "-s", str(tmp_path / "schedule"), env=env, log=tmp_path / "beat.log"
        ),
    ):
        row = wait_for(lambda: Heartbeat.objects.filter(name="beat").first(), 60)
    assert row is not None, (tmp_path / "beat.log").read_text()[-3000:]


def test_ping_sent_by_the_staff_page_in_the_web_process_is_run_by_a_worker(tmp_path, staff):
    from portal.celery import app as celery_app
    from tests.conftest import CommittingClient, verified_login

    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = process_env(PORTAL_VAR_DIR=str(tmp_path))
    client = verified_login(CommittingClient(), staff)
    original_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue  # where ping.delay() in the view publishes
    try:
        with celery_process(
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-mingle",
            "--without-gossip",
            env=env,
            log=tmp_path / "worker.log",
        ):
            response = client.post("/ops/")
            assert response.status_code == 302
            row = wait_for(lambda: Heartbeat.objects.filter(name__startswith="ping:").first(), 60)
    finally:
        celery_app.conf.task_default_queue = original_queue
    assert row is not None, (tmp_path / "worker.log").read_text()[-3000:]
    page = client.get("/ops/").content.decode()
    assert row.name in page
