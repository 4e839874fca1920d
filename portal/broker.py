"""The message broker: kombu's Redis transport with one crash after a lost connection fixed, and
what the portal needs to know about the broker it is configured with (Redis or RabbitMQ).

The crash (kombu 5.7.0, celery 5.7.0, redis-py 8.1.0; upstream celery/celery#8030, #9054): when
Redis goes away while the worker holds unacknowledged tasks (acks_late), the consumer's clean-up
first collects the broken connection, which detaches the transport from its connection
(`transport.client = None`) without always closing the channel, then closes the connection. The
channel's close then restores the unacknowledged tasks and needs a fresh Redis client; building
one reads `transport.client.hostname` and raises AttributeError. Celery expects a connection
error there (it restarts the consumer on those); an AttributeError is "Unrecoverable": the
worker stops consuming while beat goes on queueing. The same happens to the ack of a task that
finishes after the loss. The fix: a channel whose connection is gone says so with the
connection error Celery already handles, so the consumer reconnects as it does for any other
broker outage. What was not acknowledged stays in Redis's unacked index (restored after the
visibility timeout) or, after a restart without persistence, is gone; either way the outbox
sweep sends every pending e-mail again under its lease: the database, not the broker, is what
guarantees that no alert is lost.
"""

from urllib.parse import urlsplit

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


def broker_kind(url: str) -> str:
    """The broker CELERY_BROKER_URL names: redis, amqp (RabbitMQ) or filesystem (embedded)."""
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme in ("redis", "rediss"):
        return "redis"
    if scheme in ("amqp", "amqps", "pyamqp"):
        return "amqp"
    return scheme
