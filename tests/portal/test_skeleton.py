import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.templatetags.static import static
from django.urls import reverse

from portal.celery import app as celery_app
from tests.processes import ROOT, free_port


def test_landing_explains_the_portal_and_links_to_login(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "EU competent authorities" in body
    assert reverse("authorities:login") in body


def test_static_css_is_served_by_whitenoise_from_the_manifest(client):
    url = static("css/portal.css")
    assert url != "/static/css/portal.css"  # hashed name: cacheable forever
    response = client.get(url)
    assert response.status_code == 200
    assert b"--brand" in b"".join(response.streaming_content)


OK = {
    "database": "ok",
    "broker": "ok",
    "scheduler": "ok",
    "alerts": "ok",
    "emails": "ok",
    "receipts": "ok",
}


@pytest.fixture
def swept(db):
    from portal.services import heartbeat_record

    return heartbeat_record(name="deadline-sweep")


def test_healthz_is_200_when_database_broker_and_deadline_sweep_answer(client, swept):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": OK}


def test_healthz_is_503_when_the_deadline_sweep_is_older_than_two_intervals(client, swept):
    with time_machine.travel(swept.seen_at + timedelta(seconds=119), tick=False):
        assert client.get("/healthz").status_code == 200
    with time_machine.travel(swept.seen_at + timedelta(seconds=121), tick=False):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {**OK, "scheduler": "fail"}


def test_healthz_is_503_when_the_deadline_sweep_never_ran(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["scheduler"] == "fail"


def test_healthz_is_503_without_leaking_why_when_the_broker_is_down(client, swept):
    # A real connection attempt to a port where nothing listens.
    # (CELERY_BROKER_URL in the environment outranks broker_url, so set the write URL.)
    celery_app.conf.broker_write_url = f"redis://127.0.0.1:{free_port()}/0"
    try:
        response = client.get("/healthz")
    finally:
        celery_app.conf.broker_write_url = None
    assert response.status_code == 503
    assert response.json() == {"status": "fail", "checks": {**OK, "broker": "fail"}}
    assert b"Connection refused" not in response.content
    assert b"6379" not in response.content


def _settings_import(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "x.eu", "EMAIL_URL": "smtp://h:25"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "k" * 50, "EMAIL_URL": "smtp://h:25"}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_SECRET_KEY": "k" * 50, "DJANGO_ALLOWED_HOSTS": "x.eu"}, "EMAIL_URL"),
        (
            {
                "DJANGO_SECRET_KEY": "k" * 50,
                "DJANGO_ALLOWED_HOSTS": "x.eu",
                "EMAIL_URL": "smtp://h",
            },
            "CACHE_URL",
        ),
    ],
)
def test_production_settings_refuse_to_start_without_secrets(env, missing, tmp_path):
    result = _settings_import({**env, "PORTAL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def _manage(*args: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PORTAL_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_manage_py_without_an_environment_names_the_missing_secret(tmp_path):
    result = _manage("check", tmp_path=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("manage.py: DJANGO_SECRET_KEY is required"), result.stderr
    assert "Models aren't loaded yet" not in result.stderr


@pytest.mark.slow
def test_makemigrations_check_needs_no_environment(tmp_path):
    result = _manage("makemigrations", "--check", "--dry-run", tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


@pytest.mark.slow
def test_debug_is_off_unless_asked_for(tmp_path):
    env = {
        "DJANGO_SECRET_KEY": "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "x.eu",
        "EMAIL_URL": "smtp://h:25",
        "CELERY_BROKER_URL": "redis://h:6379/0",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.slow
def test_embedded_defaults_need_no_database_or_broker_server(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings;"
        "from django.db import connection;"
        "print(connection.vendor, settings.CELERY_BROKER_URL)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DJANGO_DEBUG": "1",
            "PORTAL_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    # SQLite (through django-prometheus's wrapper of Django's backend) and kombu's filesystem.
    assert result.stdout.split() == ["sqlite", "filesystem://"], result.stderr


def test_celery_reliability_defaults():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"


def test_ops_page_is_for_staff_only(client, officer, staff):
    from tests.conftest import verified_login

    assert client.get("/ops/").status_code == 302  # anonymous: to login
    verified_login(client, officer)
    assert client.get("/ops/").status_code == 404
    assert client.post("/ops/").status_code == 404
    verified_login(client, staff)
    page = client.get("/ops/")
    assert page.status_code == 200
    assert "Ping a worker" in page.content.decode()
