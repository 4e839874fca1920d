from celery import shared_task

from .services import heartbeat_record


@shared_task(name="portal.tasks.beat_heartbeat")
def beat_heartbeat() -> None:
    heartbeat_record(name="beat")


@shared_task(name="portal.tasks.ping")
def ping(nonce: str) -> None:
    """A round-trip probe: the caller looks for the row this writes to know a worker ran it."""
    heartbeat_record(name=f"ping:{nonce}")
