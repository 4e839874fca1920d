"""The legal clock, as a pure function of a request's clock events (no database, no settings but
the instrument table). Services store its result in LegalRequest.due_at whenever they write an
event that moves the clock; tests feed it tables of events.

Rules (../shared/BRIEF.md): the clock starts at receipt; it stops while the platform waits for a
clarification it asked for, and restarts when the authority answers, so the time allowed is
extended by every full pause. While a pause is open there is no deadline (None).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

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
    for event in sorted(events, key=lambda e: e.at):
        if event.kind == CLOCK_STOPPED and stopped_at is None:
            stopped_at = event.at
        elif event.kind == CLOCK_RESTARTED and stopped_at is not None:
            total += event.at - stopped_at
            stopped_at = None
    return total, stopped_at


def due_at(*, instrument: str, emergency: bool, events: Iterable[ClockEvent]) -> datetime | None:
    events = list(events)
    received = next((e.at for e in events if e.kind == RECEIVED), None)
    if received is None:
        return None  # a draft: no clock
    paused, open_pause = paused_time(events)
    if open_pause is not None:
        return None
    allowed = rule_for(instrument).time_allowed(emergency=emergency)
    # Exact to the minute, rounded down: the platform never counts on the extra seconds.
    return (received + allowed + paused).replace(second=0, microsecond=0)
