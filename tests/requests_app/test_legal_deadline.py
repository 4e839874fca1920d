"""The legal time limit as a pure function (requests_app/deadlines.legal_deadline): a table worked
by hand from Regulation (EEC, Euratom) No 1182/71, and the system check that keeps the internal
deadline inside it. No database, no environment (README: the pure tests).

Calendar used below (checked against the `holidays` package in test_holidays_agree):
- 2026: Mon 2 Nov, Thu 12 Nov, Sat 14 Nov, Mon 16 Nov; Sun 1 Nov All Saints (BE); Wed 11 Nov
  Armistice (BE); Fri 25 Dec Christmas, Sat 26 Dec; DST ends Sun 25 Oct (01:00 UTC).
- 2027: Fri 26 Mar Good Friday (DE national holiday, not BE); Sun 28 Mar Easter and DST starts
  (01:00 UTC); Mon 29 Mar Easter Monday (BE and DE); Tue 6 Apr.
- Brussels and Berlin: UTC+1 in winter (CET), UTC+2 in summer (CEST).
"""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from django.core import checks
from django.test import override_settings

from authorities.constants import EU_MEMBER_STATES, Instrument
from requests_app.checks import LATER_THAN_THE_LAW, legal_time_limit_problems
from requests_app.deadlines import (
    CLOCK_RESTARTED,
    CLOCK_STOPPED,
    MEMBER_STATE_ZONES,
    RECEIVED,
    ClockEvent,
    due_at,
    legal_deadline,
    stored_deadlines,
)
from requests_app.instruments import RULES, LegalPeriod
from tests.clock_table import POLICY_MINUTES, utc

HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def policy(settings):
    settings.PORTAL_DEADLINE_MINUTES = dict(POLICY_MINUTES)
    return settings


def received(at: datetime) -> list[ClockEvent]:
    return [ClockEvent(RECEIVED, at)]


def paused(at: datetime, stop: datetime, restart: datetime) -> list[ClockEvent]:
    return [
        ClockEvent(RECEIVED, at),
        ClockEvent(CLOCK_STOPPED, stop),
        ClockEvent(CLOCK_RESTARTED, restart),
    ]


EPOC, TCO = Instrument.EPOC, Instrument.TCO_REMOVAL

# (name, instrument, emergency, state, events, expected legal limit in UTC)
TABLE = [
    # Receipt Mon 2 Nov 2026 11:00 CET. Day 2 Nov does not count (Art. 3(1)); days 3..12 Nov;
    # last day Thu 12 Nov, a working day (Armistice, Wed 11 Nov, falls inside and changes
    # nothing: Art. 3(3)). Ends at 13 Nov 00:00 CET = 12 Nov 23:00 UTC.
    ("plain weekday", EPOC, False, "BE", received(utc(2026, 11, 2, 10, 0)), utc(2026, 11, 12, 23)),
    # Receipt Wed 4 Nov 2026 10:00 CET; days 5..14 Nov; last day Sat 14 Nov -> Sun 15 -> Mon 16
    # Nov, a working day (Art. 3(4)). Ends 17 Nov 00:00 CET = 16 Nov 23:00 UTC.
    (
        "Saturday last day",
        EPOC,
        False,
        "BE",
        received(utc(2026, 11, 4, 9, 0)),
        utc(2026, 11, 16, 23),
    ),
    # Receipt Tue 15 Dec 2026 15:30 CET; days 16..25 Dec; last day Fri 25 Dec (Christmas) -> Sat
    # 26 (Second Day of Christmas, and a Saturday) -> Sun 27 -> Mon 28 Dec, a working day in DE.
    # Ends 29 Dec 00:00 CET = 28 Dec 23:00 UTC.
    ("Christmas", EPOC, False, "DE", received(utc(2026, 12, 15, 14, 30)), utc(2026, 12, 28, 23)),
    # Receipt Tue 16 Mar 2027 11:00 CET; days 17..26 Mar; last day Fri 26 Mar, Good Friday, a
    # national holiday in DE -> Sat 27 -> Sun 28 (Easter; clocks go forward) -> Mon 29 (Easter
    # Monday) -> Tue 30 Mar. Ends 31 Mar 00:00 CEST = 30 Mar 22:00 UTC.
    ("Good Friday, DE", EPOC, False, "DE", received(utc(2027, 3, 16, 10, 0)), utc(2027, 3, 30, 22)),
    # The same receipt in BE, where Good Friday is a working day: last day Fri 26 Mar stands.
    # Ends 27 Mar 00:00 CET = 26 Mar 23:00 UTC.
    ("Good Friday, BE", EPOC, False, "BE", received(utc(2027, 3, 16, 10, 0)), utc(2027, 3, 26, 23)),
    # Receipt Fri 19 Mar 2027 11:00 CET; days 20..29 Mar; last day Mon 29 Mar, Easter Monday ->
    # Tue 30 Mar. Ends 31 Mar 00:00 CEST (summer time since the 28th) = 30 Mar 22:00 UTC.
    ("Easter Monday", EPOC, False, "BE", received(utc(2027, 3, 19, 10, 0)), utc(2027, 3, 30, 22)),
    # Receipt Thu 22 Oct 2026 10:00 CEST; days 23 Oct..1 Nov; last day Sun 1 Nov, All Saints ->
    # Mon 2 Nov, a working day in BE (no substitute day). Ends 3 Nov 00:00 CET = 2 Nov 23:00 UTC.
    (
        "All Saints on a Sunday",
        EPOC,
        False,
        "BE",
        received(utc(2026, 10, 22, 8, 0)),
        utc(2026, 11, 2, 23),
    ),
    # Receipt Fri 16 Oct 2026 22:30 UTC = Sat 17 Oct 00:30 CEST: the day of receipt is the 17th
    # in Brussels (in UTC it would be the 16th, and the limit a day earlier). Days 18..27 Oct,
    # across the change of 25 Oct (a 25-hour day); last day Tue 27 Oct. Ends 28 Oct 00:00 CET
    # (winter time now) = 27 Oct 23:00 UTC.
    (
        "October DST change",
        EPOC,
        False,
        "BE",
        received(utc(2026, 10, 16, 22, 30)),
        utc(2026, 10, 27, 23),
    ),
    # Receipt Sat 27 Mar 2027 23:30 CET (22:30 UTC), the evening before clocks go forward. Days
    # 28 Mar (23 hours) .. 6 Apr; last day Tue 6 Apr. Ends 7 Apr 00:00 CEST = 6 Apr 22:00 UTC:
    # 239.5 hours after receipt (see test_internal_deadline_never_later).
    (
        "March DST change, late receipt",
        EPOC,
        False,
        "BE",
        received(utc(2027, 3, 27, 22, 30)),
        utc(2027, 4, 6, 22),
    ),
    # Emergency, 8 hours: receipt Thu 24 Dec 2026 21:37 CET (20:37 UTC). The hour 20:00-21:00 UTC
    # does not count (Art. 3(1)); the period runs 21:00 UTC -> 8 hours -> 25 Dec 05:00 UTC
    # (06:00 CET), across midnight into Christmas Day: no holiday extension for hours.
    (
        "8 hours across midnight",
        EPOC,
        True,
        "BE",
        received(utc(2026, 12, 24, 20, 37)),
        utc(2026, 12, 25, 5),
    ),
    # Emergency across the October change: receipt Sat 24 Oct 2026 23:15 CEST (21:15 UTC); the
    # period runs from 22:00 UTC, 8 elapsed hours -> 25 Oct 06:00 UTC (07:00 CET; the wall clock
    # shows 9 hours because 02:00-03:00 came twice).
    (
        "8 hours across DST end",
        EPOC,
        True,
        "DE",
        received(utc(2026, 10, 24, 21, 15)),
        utc(2026, 10, 25, 6),
    ),
    # TCO, 1 hour: receipt 10:59:30 UTC; the hour 10:00-11:00 does not count; 11:00 -> 12:00 UTC.
    ("TCO at :59", TCO, False, "FR", received(utc(2026, 11, 2, 10, 59, 30)), utc(2026, 11, 2, 12)),
    # TCO receipt on the hour exactly, 11:00:00: it falls during the hour 11:00-12:00, which does
    # not count; the period runs 12:00 -> 13:00 UTC.
    ("TCO on the hour", TCO, False, "FR", received(utc(2026, 11, 2, 11, 0)), utc(2026, 11, 2, 13)),
    # TCO on a Sunday (1 Nov 2026, All Saints in FR): no extension. 23:20 UTC -> 00:00 -> 01:00.
    ("TCO on a holiday", TCO, False, "FR", received(utc(2026, 11, 1, 23, 20)), utc(2026, 11, 2, 1)),
    # Pause of 48 hours (Tue 3 Nov 10:00 UTC -> Thu 5 Nov 10:00 UTC) on the weekday receipt.
    # Reading 1: the limit from receipt (12 Nov 23:00 UTC, row 1) + 48 h = 14 Nov 23:00 UTC.
    # Reading 2: receipt moved by 48 h to Wed 4 Nov 11:00 CET -> last day Sat 14 -> Mon 16 Nov
    # -> 16 Nov 23:00 UTC. The earlier: 14 Nov 23:00 UTC.
    (
        "pause, lengthened limit earlier",
        EPOC,
        False,
        "BE",
        paused(utc(2026, 11, 2, 10), utc(2026, 11, 3, 10), utc(2026, 11, 5, 10)),
        utc(2026, 11, 14, 23),
    ),
    # Pause of 1 hour (12:00 -> 13:00 UTC) on the Saturday-last-day receipt (Wed 4 Nov 09:00 UTC).
    # Reading 1: 16 Nov 23:00 UTC (row 2) + 1 h = 17 Nov 00:00 UTC. Reading 2: receipt moved to
    # 10:00 UTC, still 4 Nov -> 16 Nov 23:00 UTC. The earlier: 16 Nov 23:00 UTC.
    (
        "pause, moved receipt earlier",
        EPOC,
        False,
        "BE",
        paused(utc(2026, 11, 4, 9), utc(2026, 11, 4, 12), utc(2026, 11, 4, 13)),
        utc(2026, 11, 16, 23),
    ),
    # Emergency with a 30-minute pause: receipt 20:37 UTC -> 05:00 UTC (row above) + 30 min =
    # 05:30; moved receipt 21:07 UTC -> hour 21-22 does not count -> 22:00 + 8 h = 06:00. 05:30.
    (
        "pause, 8 hours",
        EPOC,
        True,
        "BE",
        paused(utc(2026, 12, 24, 20, 37), utc(2026, 12, 24, 21), utc(2026, 12, 24, 21, 30)),
        utc(2026, 12, 25, 5, 30),
    ),
]


@pytest.mark.parametrize(
    ("instrument", "emergency", "state", "events", "expected"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_hand_worked_table(instrument, emergency, state, events, expected):
    limit = legal_deadline(instrument=instrument, emergency=emergency, events=events, state=state)
    assert limit == expected
    assert limit.tzinfo is UTC


def test_holidays_agree():
    """The calendar facts the table relies on, as the `holidays` package (national) has them."""
    be_2026 = holidays.country_holidays("BE", years=2026)
    be_2027 = holidays.country_holidays("BE", years=2027)
    de_2026 = holidays.country_holidays("DE", years=2026)
    de_2027 = holidays.country_holidays("DE", years=2027)
    fr_2026 = holidays.country_holidays("FR", years=2026)
    assert date(2027, 3, 26) in de_2027  # Good Friday: DE national holiday
    assert date(2027, 3, 26) not in be_2027  # ... not in BE
    assert date(2027, 3, 29) in be_2027 and date(2027, 3, 29) in de_2027  # Easter Monday
    assert date(2026, 11, 1) in be_2026 and date(2026, 11, 1).weekday() == 6  # All Saints, Sunday
    assert date(2026, 11, 1) in fr_2026
    assert date(2026, 12, 25) in de_2026 and date(2026, 12, 26) in de_2026
    for day in (date(2026, 11, 2), date(2026, 11, 12), date(2026, 11, 16), date(2027, 3, 30)):
        assert day not in be_2026 and day not in be_2027
    assert date(2026, 12, 28) not in de_2026 and date(2027, 3, 30) not in de_2027
    assert date(2027, 4, 6) not in be_2027
    assert date(2026, 11, 2).weekday() == 0 and date(2027, 3, 28).weekday() == 6
    # The clock changes, in the table's zones.
    brussels = ZoneInfo("Europe/Brussels")
    assert datetime(2026, 10, 25, 0, 59, tzinfo=UTC).astimezone(brussels).utcoffset() == 2 * HOUR
    assert datetime(2026, 10, 25, 1, 0, tzinfo=UTC).astimezone(brussels).utcoffset() == HOUR
    assert datetime(2027, 3, 28, 1, 0, tzinfo=UTC).astimezone(brussels).utcoffset() == 2 * HOUR


def test_every_member_state_has_a_zone_and_a_calendar():
    assert MEMBER_STATE_ZONES.keys() == EU_MEMBER_STATES.keys()
    for state, name in MEMBER_STATE_ZONES.items():
        zone = ZoneInfo(name)
        # Whole hours from UTC in winter and summer: a clock hour is a UTC hour.
        for month in (1, 7):
            offset = datetime(2027, month, 15, tzinfo=UTC).astimezone(zone).utcoffset()
            assert offset % HOUR == timedelta(0), state
        assert holidays.country_holidays(state, years=2027), state
        limit = legal_deadline(
            instrument=EPOC, emergency=False, events=received(utc(2027, 6, 1, 9)), state=state
        )
        assert limit is not None and limit > utc(2027, 6, 11)


def test_no_fixed_limit_draft_and_open_pause():
    at = utc(2026, 11, 2, 10)
    for code in (
        Instrument.EPOC_PR,
        Instrument.DSA_ART9,
        Instrument.DSA_ART10,
        Instrument.EMERGENCY_DISCLOSURE,
        Instrument.INQUIRY,
    ):
        for emergency in (False, True):
            assert (
                legal_deadline(
                    instrument=code, emergency=emergency, events=received(at), state="BE"
                )
                is None
            ), code
    assert legal_deadline(instrument=EPOC, emergency=False, events=[], state="BE") is None
    open_pause = [ClockEvent(RECEIVED, at), ClockEvent(CLOCK_STOPPED, at + HOUR)]
    assert legal_deadline(instrument=EPOC, emergency=False, events=open_pause, state="BE") is None


def test_not_a_member_state():
    with pytest.raises(ValueError, match="not the code of an EU Member State"):
        legal_deadline(
            instrument=EPOC, emergency=False, events=received(utc(2026, 11, 2)), state="CH"
        )
    with pytest.raises(ValueError):
        legal_deadline(
            instrument=EPOC, emergency=False, events=received(utc(2026, 11, 2)), state="EL"
        )


def _late_evening_before_spring_change(at: datetime, zone: ZoneInfo, days: int) -> bool:
    """Receipt in the last local hour of a day, with a 23-hour day among the next `days` days."""
    local = at.astimezone(zone)
    if local.hour != 23:
        return False
    for n in range(1, days + 1):
        day = local.date() + timedelta(days=n)
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        if (start + timedelta(days=1)).astimezone(UTC) - start.astimezone(UTC) < timedelta(
            hours=24
        ):
            return True
    return False


@pytest.mark.parametrize("state", ["BE", "PT", "FI"])
def test_internal_deadline_never_later(state):
    """due_at (internal) against legal_deadline for a receipt every 37 minutes over 2026-2027:
    never later, but for one known gap: a 10-day EPOC received in the last hour of a day, when
    a 23-hour day (clocks forward in March) falls in the period. There the legal period is
    shorter than 10 x 24 hours and due_at is up to an hour late (docs/instruments.md)."""
    zone = ZoneInfo(MEMBER_STATE_ZONES[state])
    at, end = utc(2026, 1, 1), utc(2028, 1, 1)
    gaps = 0
    while at < end:
        for instrument, emergency in ((EPOC, False), (EPOC, True), (TCO, False)):
            events = received(at)
            internal = due_at(instrument=instrument, emergency=emergency, events=events)
            limit = legal_deadline(
                instrument=instrument, emergency=emergency, events=events, state=state
            )
            stored, stored_limit = stored_deadlines(
                instrument=instrument, emergency=emergency, events=events, state=state
            )
            assert stored_limit == limit
            assert stored == min(internal, limit), at
            if internal > limit:
                assert (instrument, emergency) == (EPOC, False), at
                assert _late_evening_before_spring_change(at, zone, 10), at
                assert internal - limit < HOUR
                gaps += 1
        at += timedelta(minutes=37)
    # Two springs x 10 late evenings x about 60/37 receipts an hour.
    assert 0 < gaps < 2 * 10 * 2


def test_internal_deadline_at_spring_change():
    """The gap above, closed where the deadlines are stored: 10 x 24 hours from 22:30 UTC is
    22:30 UTC, the law's 10 days (one of 23 hours) end at 22:00 UTC; the stored target is 22:00."""
    events = received(utc(2027, 3, 27, 22, 30))
    internal = due_at(instrument=EPOC, emergency=False, events=events)
    limit = legal_deadline(instrument=EPOC, emergency=False, events=events, state="BE")
    assert (internal, limit) == (utc(2027, 4, 6, 22, 30), utc(2027, 4, 6, 22))
    assert stored_deadlines(instrument=EPOC, emergency=False, events=events, state="BE") == (
        limit,
        limit,
    )


# --- The system check -------------------------------------------------------------------------


def test_check_passes_with_the_defaults():
    assert legal_time_limit_problems(RULES) == []
    assert [m for m in checks.run_checks() if m.id == LATER_THAN_THE_LAW] == []


def test_check_refuses_a_rule_later_than_the_law():
    rules = dict(RULES)
    rules[EPOC] = replace(RULES[EPOC], deadline=timedelta(days=10, minutes=1))
    rules[TCO] = replace(RULES[TCO], deadline=timedelta(minutes=61))
    problems = legal_time_limit_problems(rules)
    assert [(p.id, p.obj) for p in problems] == [
        (LATER_THAN_THE_LAW, EPOC),
        (LATER_THAN_THE_LAW, TCO),
    ]
    assert all(p.is_serious() for p in problems)
    assert "10 days" in problems[0].msg and "Art. 10(2), 10(3)" in problems[0].msg

    rules = dict(RULES)
    rules[EPOC] = replace(RULES[EPOC], emergency_deadline=timedelta(hours=9))
    (problem,) = legal_time_limit_problems(rules)
    assert "(emergency)" in problem.msg and "8 hours" in problem.msg


def test_check_refuses_a_setting_later_than_the_law(monkeypatch):
    """No instrument whose deadline is a setting has a legal period today (EPOC and TCO have fixed
    deadlines): give the preservation order one of 1 day, then try its setting, through Django's
    own run of the registered checks."""
    ruled = replace(RULES[Instrument.EPOC_PR], legal_period=LegalPeriod(days=1, source="test"))
    monkeypatch.setitem(RULES, Instrument.EPOC_PR, ruled)
    assert legal_time_limit_problems(RULES) == []  # the default: 24 h, exactly 1 day
    with override_settings(
        PORTAL_DEADLINE_MINUTES={**POLICY_MINUTES, "epoc_pr_confirm": 24 * 60 + 1}
    ):
        found = [m for m in checks.run_checks() if m.id == LATER_THAN_THE_LAW]
    assert len(found) == 1
    assert found[0].obj == Instrument.EPOC_PR
    assert "PORTAL_DEADLINE_MINUTES['epoc_pr_confirm']" in found[0].hint
    assert "1440 minutes" in found[0].hint
    with override_settings(PORTAL_DEADLINE_MINUTES={**POLICY_MINUTES, "epoc_pr_confirm": 24 * 60}):
        assert [m for m in checks.run_checks() if m.id == LATER_THAN_THE_LAW] == []
