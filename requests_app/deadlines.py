"""The legal clock, as a pure function of a request's clock events (no database, no settings but
the instrument table). Services store its result in LegalRequest.due_at whenever they write an
event that moves the clock; tests feed it tables of events.

Rules (../shared/BRIEF.md): the clock starts at receipt; it stops while the platform waits for a
clarification it asked for, and restarts when the authority answers, so the time allowed is
extended by every full pause. While a pause is open there is no deadline (None).

Beside it, legal_deadline() gives the legal time limit: the period the law sets (the instrument
rule's legal_period), counted as Regulation (EEC, Euratom) No 1182/71 counts periods, in the
enforcing State's calendar and time zone. docs/instruments.md, "Legal time limits", quotes the
articles and gives each reading taken where the texts leave room (always the earlier deadline).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from authorities.constants import MEMBER_STATE_ZONES

from .instruments import LegalPeriod, rule_for

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


# --- The legal time limit (Regulation (EEC, Euratom) No 1182/71) -------------------------------

# MEMBER_STATE_ZONES (authorities.constants; also where a new account's clock starts): the
# civil time zone of each Member State's mainland (and, for PT and ES, of Lisbon and Madrid:
# the Azores, Madeira and the Canary Islands keep other zones, as do the French overseas
# departments; they are not handled). Every zone here is a whole number of hours from UTC all
# year, so a clock hour in the State is a UTC hour (legal_deadline counts periods in hours in UTC).


def legal_deadline(
    *, instrument: str, emergency: bool, events: Iterable[ClockEvent], state: str
) -> datetime | None:
    """The legal time limit, an aware UTC datetime: the instant the period's last hour expires
    (an answer is in time strictly before it). None for a draft (no receipt), while a pause is
    open, and where the law sets no fixed period. `state`: the enforcing Member State (ISO 3166
    alpha-2, GR for Greece), whose calendar days, time zone and public holidays count."""
    zone = state_zone(state)
    events = _in_utc(events)
    received = next((e.at for e in events if e.kind == RECEIVED), None)
    if received is None:
        return None
    period = rule_for(instrument).legal_period_for(emergency=emergency)
    if period is None:
        return None
    paused, open_pause = paused_time(events)
    if open_pause is not None:
        return None
    end = _period_end(period, received, state, zone)
    if not paused:
        return end
    # A pause moves the limit by its length. Two readings: the period counted from receipt, then
    # lengthened by the paused time; or counted from receipt moved by the paused time (days,
    # weekends and holidays then fall differently). Neither text settles it: the earlier.
    return min(end + paused, _period_end(period, received + paused, state, zone))


def stored_deadlines(
    *, instrument: str, emergency: bool, events: Iterable[ClockEvent], state: str
) -> tuple[datetime | None, datetime | None]:
    """The two deadlines a request stores (LegalRequest.due_at, legal_due_at): the internal
    target, never later than the legal time limit, and the legal time limit. The internal period
    is a duration (10 days = 240 hours); the law counts calendar days in the enforcing State, so
    a day of 23 hours (the spring DST change) can bring the legal limit before it: the internal
    target is then the legal limit."""
    events = list(events)
    internal = due_at(instrument=instrument, emergency=emergency, events=events)
    legal = legal_deadline(instrument=instrument, emergency=emergency, events=events, state=state)
    if internal is not None and legal is not None:
        internal = min(internal, legal)
    return internal, legal


def state_zone(state: str) -> ZoneInfo:
    try:
        return ZoneInfo(MEMBER_STATE_ZONES[state])
    except KeyError:
        raise ValueError(f"{state!r} is not the code of an EU Member State.") from None


def is_working_day(day: date, state: str) -> bool:
    """1182/71 Art. 2(2): every day other than a public holiday, a Sunday or a Saturday. Public
    holidays: the State's national ones (the `holidays` package), not regional ones."""
    return day.weekday() < 5 and day not in _public_holidays(state, day.year)


@lru_cache(maxsize=256)
def _public_holidays(state: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(state, years=year))


def _period_end(period: LegalPeriod, received: datetime, state: str, zone: ZoneInfo) -> datetime:
    if period.hours:
        # Art. 3(1): the hour during which receipt falls does not count; Art. 3(2)(a): the period
        # starts at the beginning of the next hour and ends when its last hour expires. Hours
        # elapse (UTC): no weekend or holiday extension (Art. 3(4) excludes periods in hours).
        first_hour = received.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return first_hour + timedelta(hours=period.hours)
    # Art. 3(1): the day of receipt (in the State's calendar) does not count; Art. 3(2)(b): the
    # period ends with the expiry of the last hour of its last day; Art. 3(4): a last day that is
    # a Saturday, Sunday or public holiday gives way to the next working day.
    last_day = received.astimezone(zone).date() + timedelta(days=period.days)
    while not is_working_day(last_day, state):
        last_day += timedelta(days=1)
    # The last hour expires at the next midnight (no EU zone changes its clocks at midnight).
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
