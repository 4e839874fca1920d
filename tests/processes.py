"""Real processes for tests (web server, Celery worker and beat), pointed at the test database."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": test_database_url(), **extra}
    env.pop("DJANGO_DEBUG", None)
    return env


@contextmanager
def celery_process(*args: str, env: dict[str, str], log: Path):
    """Start `celery -A portal <args>`; stop it (and its children) on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait()


def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@contextmanager
def web_process(argv: list[str], *, env: dict[str, str], log: Path, ready_url: str) -> Iterator:
    """Start a web server (`argv`: gunicorn, runserver) and wait until `ready_url` answers 200;
    stop it on exit. Its output goes to `log`, quoted when it does not come up."""

    def up() -> bool:
        try:
            return urllib.request.urlopen(ready_url, timeout=2).status == 200  # noqa: S310
        except OSError:
            return False

    with log.open("wb") as out:
        server = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            assert wait_for(up, 60), log.read_text()[-3000:]
            yield server
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=20)


def python_in_portal(code: str, *, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `python -c code` from the project's folder with exactly `env`: how a test shows what
    a fresh process does with some settings (start-up refusals, embedded defaults)."""
    return subprocess.run(  # noqa: S603 (our interpreter, our code)
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
