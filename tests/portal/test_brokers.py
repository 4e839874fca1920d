"""Both brokers the portal supports: RabbitMQ (amqp://) and Redis (redis://) configure, answer the
health check, and refuse what they cannot do; the Redis transport survives the clean-up after a
lost connection (portal/broker.py). The fault suite (tests/faults/) runs the alerts on both."""

import json
import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.processes import free_port, python_in_portal

pytestmark = pytest.mark.slow

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
REDIS = "redis://127.0.0.1:6379/0"

PRODUCTION = {
    "PATH": "/usr/bin:/bin",
    "DJANGO_SETTINGS_MODULE": "portal.settings",
    "DJANGO_SECRET_KEY": "k" * 50,
    "DJANGO_ALLOWED_HOSTS": "x.eu",
    "EMAIL_URL": "smtp://h:25",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
}

SHOW = (
    "import json, django; django.setup(); from django.conf import settings;"
    "from portal.celery import app; from portal.health import broker_ok;"
    "print(json.dumps({'kind': settings.BROKER_KIND, 'transport': str(app.conf.broker_transport),"
    " 'options': settings.CELERY_BROKER_TRANSPORT_OPTIONS,"
    " 'cache': settings.CACHES['default'].get('LOCATION'), 'ok': broker_ok()}))"
)


def settings_with(tmp_path, **env: str) -> dict:
    result = python_in_portal(SHOW, env={**PRODUCTION, "PORTAL_VAR_DIR": str(tmp_path), **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_rabbitmq_broker_answers_the_health_check_and_keeps_redis_only_options_out(tmp_path):
    shown = settings_with(
        tmp_path, CELERY_BROKER_URL=RABBITMQ, CACHE_URL="redis://127.0.0.1:6379/1"
    )

    assert shown == {
        "kind": "amqp",
        "transport": "None",  # kombu's own py-amqp transport
        "options": {"confirm_publish": True},  # no visibility_timeout: a Redis notion
        "cache": "redis://127.0.0.1:6379/1",
        "ok": True,
    }


def test_rabbitmq_that_does_not_answer_fails_the_health_check(tmp_path):
    down = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    shown = settings_with(tmp_path, CELERY_BROKER_URL=down, CACHE_URL="redis://127.0.0.1:6379/1")

    assert (shown["kind"], shown["ok"]) == ("amqp", False)


def test_rabbitmq_broker_needs_a_cache_url_in_production(tmp_path):
    # With Redis as the broker the rate-limit counters default to its next database; RabbitMQ
    # has none to offer, so production must name one.
    env = {**PRODUCTION, "PORTAL_VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": RABBITMQ}
    result = python_in_portal("import django; django.setup()", env=env)

    assert result.returncode == 1
    assert "CACHE_URL (Redis) is required" in result.stderr


def test_redis_broker_uses_the_portal_transport_and_its_next_database_for_the_cache(tmp_path):
    shown = settings_with(tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:6379/0")

    assert shown == {
        "kind": "redis",
        "transport": "portal.broker:RedisTransport",
        "options": {"visibility_timeout": 600},
        "cache": "redis://127.0.0.1:6379/1",
        "ok": True,
    }


def test_unknown_broker_scheme_stops_start_up(tmp_path):
    env = {**PRODUCTION, "PORTAL_VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": "sqs://k:s@"}
    result = python_in_portal("import django; django.setup()", env=env)

    assert result.returncode == 1
    assert "CELERY_BROKER_URL must be an amqp://, redis:// or filesystem:// URL" in result.stderr


def test_redis_channel_closed_after_its_connection_was_collected_raises_a_connection_error():
    # The state kombu's clean-up leaves after Redis went away (celery/celery#8030): the channel
    # still holds an unacknowledged task (acks_late) and the transport is already detached from
    # its connection. Closing the channel restores the task and needs a new Redis client: kombu's
    # transport raised AttributeError there ("Unrecoverable error", the worker stopped
    # consuming); the portal's raises the connection error Celery reconnects on.
    from kombu import Connection
    from kombu.transport import redis as kombu_redis

    from portal.broker import RedisTransport

    queue = f"test-broker-{uuid.uuid4().hex[:8]}"
    raised = {}
    for transport in (kombu_redis.Transport, RedisTransport):
        with Connection(REDIS, transport=transport) as conn:
            conn.SimpleQueue(queue).put({"send": 1})
            channel = conn.channel()
            assert channel.basic_get(queue, no_ack=False) is not None  # delivered, not acked
            conn._do_close_transport()  # what Connection.collect() ends with
            with pytest.raises(Exception) as error:
                channel.close()
            raised[transport.__name__ if transport is RedisTransport else "kombu"] = error.type
        with Connection(REDIS) as conn:
            conn.default_channel.client.delete(queue, f"_kombu.binding.{queue}")

    assert raised["kombu"] is AttributeError
    assert issubclass(raised["RedisTransport"], RedisConnectionError)
    assert raised["RedisTransport"] in Connection(REDIS, transport=RedisTransport).connection_errors
