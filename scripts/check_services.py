"""Stop `make test` at once, with a clear message, when PostgreSQL, the broker (Redis, or
RabbitMQ when CELERY_BROKER_URL is amqp://) or the RabbitMQ the fault suite creates its vhosts
on (FAULTS_RABBITMQ_URL) is not reachable."""

import os
import socket
import sys
from urllib.parse import urlparse

REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
RABBITMQ_START = "rabbitmq-server -detached (or: service rabbitmq-server start)"


def broker_service(url: str) -> tuple[str, str, int, str, str]:
    if urlparse(url).scheme.startswith("amqp"):
        return ("RabbitMQ", url, 5672, RABBITMQ_START, "CELERY_BROKER_URL")
    return ("Redis", url, 6379, REDIS_START, "CELERY_BROKER_URL")


# (name, URL, default port, how to start it here, the variable that points the tests elsewhere)
SERVICES = [
    (
        "PostgreSQL",
        os.environ.get("DATABASE_URL", ""),
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
        "DATABASE_URL",
    ),
    broker_service(os.environ.get("CELERY_BROKER_URL", "")),
    (
        "RabbitMQ (fault suite)",
        os.environ.get("FAULTS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672"),
        5672,
        RABBITMQ_START,
        "FAULTS_RABBITMQ_URL",
    ),
]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def main() -> int:
    failed = False
    for name, url, default_port, start, variable in SERVICES:
        parsed = urlparse(url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
        if not reachable(host, port):
            failed = True
            print(
                f"make test: {name} is not reachable at {host}:{port}.\n"
                f"  Start it (on this machine: {start})\n"
                f"  or point the tests elsewhere with {variable}.",
                file=sys.stderr,
            )
    if failed:
        return 1
    return ensure_database(os.environ.get("DATABASE_URL", ""))


def ensure_database(url: str) -> int:
    """Create the database DATABASE_URL names if it is missing (tests create test_<name> beside
    it; makemigrations --check reads its migration history)."""
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not parsed.scheme.startswith("postgres") or not name:
        return 0
    import psycopg

    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # noqa: S608 - our own database name
    return 0


if __name__ == "__main__":
    sys.exit(main())
