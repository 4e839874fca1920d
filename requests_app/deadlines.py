"""The legal clock, as a pure function of a request's clock events (no database, no settings but
the instrument table). Services store its result in LegalRequest.due_at whenever they write an
event that moves the clock; tests feed it tables of events.

Rules (../shared/BRIEF.md): the clock starts at receipt; it stops while the platform waits for a
clarification it asked for, and restarts when the authority answers, so the time allowed is
extended by every full pause. While a pause is open there is no deadline (None).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .instruments import rule_for

RECEIVED = "received"
CLOCK_STOPPED = "clock_stopped"
CLOCK_RESTARTED = "clock_restarted"


@dataclass(frozen=True)
class ClockEvent:
    kind: str  # RECEIVED, CLOCK_STOPPED or CLOCK_RESTARTED
    at: datetime


def paused_time(events: Iterable[ClockEvent]) -> tuple[timedelta, datetime | None]:
    """Total time of closed pauses, and the start of an open pause (or None)."""
    total = timedelta(0)
    stopped_at: datetime | None = None
    for event in _in_utc(events):
        if event.kind == CLOCK_STOPPED and stopped_at is None:
            stopped_at = event.at
        elif event.kind == CLOCK_RESTARTED and stopped_at is not None:
            total += event.at - stopped_at
            stopped_at = None
    return total, stopped_at


def due_at(*, instrument: str, emergency: bool, events: Iterable[ClockEvent]) -> datetime | None:
    events = _in_utc(events)
    received = next((e.at for e in events if e.kind == RECEIVED), None)
    if received is None:
        return None  # a draft: no clock
    paused, open_pause = paused_time(events)
    if open_pause is not None:
        return None
    allowed = rule_for(instrument).time_allowed(emergency=emergency)
    # Exact to the minute, rounded down: the platform never counts on the extra seconds.
    return (received + allowed + paused).replace(second=0, microsecond=0)


def _in_utc(events: Iterable[ClockEvent]) -> list[ClockEvent]:
    """The events in time order, in UTC. Python adds, subtracts and compares datetimes of one
    zone by wall-clock time, so in Europe/Paris a 10-day clock across a DST change would be
    off by an hour; in UTC a day is always 24 hours."""
    utc = [ClockEvent(e.kind, e.at.astimezone(UTC)) for e in events]
    return sorted(utc, key=lambda e: e.at)
