"""The legal clock as a pure function: tables of clock events and the deadline they give.

No database: due_at() and paused_time() take events and return datetimes. The time each
instrument allows comes from tests/clock_table.py, written from the legal texts; the
platform-policy deadlines come from settings.PORTAL_DEADLINE_MINUTES, pinned here to their
documented defaults by the `policy` fixture so the tables do not depend on the environment.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from authorities.constants import Instrument
from requests_app.deadlines import (
    CLOCK_RESTARTED,
    CLOCK_STOPPED,
    RECEIVED,
    ClockEvent,
    due_at,
    paused_time,
)
from requests_app.instruments import is_emergency, rule_for
from tests.clock_table import CLOCKS, POLICY_MINUTES, time_allowed, utc

PARIS = ZoneInfo("Europe/Paris")
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def policy(settings):
    settings.PORTAL_DEADLINE_MINUTES = dict(POLICY_MINUTES)
    return settings


def received(at: datetime) -> ClockEvent:
    return ClockEvent(RECEIVED, at)


def stopped(at: datetime) -> ClockEvent:
    return ClockEvent(CLOCK_STOPPED, at)


def restarted(at: datetime) -> ClockEvent:
    return ClockEvent(CLOCK_RESTARTED, at)


T0 = utc(2026, 11, 2, 10, 0)  # a Monday, far from any DST change


# --- Every instrument's clock from receipt -----------------------------------------------------


@pytest.mark.parametrize("emergency_flag", [False, True], ids=["normal", "emergency flag"])
@pytest.mark.parametrize("instrument", list(CLOCKS))
def test_each_instrument_is_due_its_time_allowed_after_receipt(instrument, emergency_flag):
    expected = time_allowed(instrument, emergency=emergency_flag)
    emergency = is_emergency(instrument, emergency_flag)
    assert rule_for(instrument).time_allowed(emergency=emergency) == expected
    assert due_at(instrument=instrument, emergency=emergency, events=[received(T0)]) == (
        T0 + expected
    )


def test_the_clock_table_covers_every_instrument():
    # The test above runs for each instrument of the clock table: with one missing from the
    # table, that instrument's clock would go untested.
    assert set(CLOCKS) == set(Instrument.values)


@pytest.mark.parametrize(
    ("instrument", "setting_key"),
    [(code, clock.setting) for code, clock in CLOCKS.items() if clock.setting],
)
def test_policy_deadline_follows_its_setting(policy, instrument, setting_key):
    emergency = is_emergency(instrument, False)
    policy.PORTAL_DEADLINE_MINUTES = {**POLICY_MINUTES, setting_key: 90}
    assert due_at(instrument=instrument, emergency=emergency, events=[received(T0)]) == (
        T0 + timedelta(minutes=90)
    )


@pytest.mark.parametrize(
    "instrument", [code for code, clock in CLOCKS.items() if clock.setting is None]
)
def test_legal_deadlines_ignore_the_policy_settings(policy, instrument):
    policy.PORTAL_DEADLINE_MINUTES = dict.fromkeys(POLICY_MINUTES, 1)
    due = due_at(instrument=instrument, emergency=False, events=[received(T0)])
    assert due == T0 + time_allowed(instrument)


# --- Rounding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "instrument", "emergency", "expected"),
    [
        (utc(2026, 11, 2, 10, 0, 45), Instrument.EPOC, False, utc(2026, 11, 12, 10, 0)),
        (utc(2026, 11, 2, 10, 0, 59, 999999), Instrument.EPOC, True, utc(2026, 11, 2, 18, 0)),
        (utc(2026, 11, 2, 10, 0, 0, 1), Instrument.TCO_REMOVAL, False, utc(2026, 11, 2, 11, 0)),
        (utc(2026, 11, 2, 23, 59, 30), Instrument.TCO_REMOVAL, False, utc(2026, 11, 3, 0, 59)),
    ],
)
def test_deadline_is_rounded_down_to_the_minute(received_at, instrument, emergency, expected):
    due = due_at(instrument=instrument, emergency=emergency, events=[received(received_at)])
    assert due == expected
    assert (due.second, due.microsecond) == (0, 0)


# --- Clarification pauses ---------------------------------------------------------------------

EPOC_DUE = T0 + 10 * DAY  # 2026-11-12 10:00 UTC


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([received(T0)], EPOC_DUE, id="no pause"),
        pytest.param(
            [received(T0), stopped(T0 + DAY), restarted(T0 + DAY + 2 * HOUR)],
            EPOC_DUE + 2 * HOUR,
            id="one pause of 2 h",
        ),
        pytest.param(
            [received(T0), stopped(T0 + 9 * DAY), restarted(T0 + 12 * DAY)],
            EPOC_DUE + 3 * DAY,
            id="a pause answered after the original deadline still counts in full",
        ),
        pytest.param(
            [
                received(T0),
                stopped(T0 + DAY),
                restarted(T0 + DAY + 2 * HOUR),
                stopped(T0 + 3 * DAY),
                restarted(T0 + 3 * DAY + 30 * MINUTE),
            ],
            EPOC_DUE + 2 * HOUR + 30 * MINUTE,
            id="two pauses add up",
        ),
        pytest.param(
            [
                restarted(T0 + 3 * DAY + 30 * MINUTE),
                stopped(T0 + DAY),
                received(T0),
                restarted(T0 + DAY + 2 * HOUR),
                stopped(T0 + 3 * DAY),
            ],
            EPOC_DUE + 2 * HOUR + 30 * MINUTE,
            id="events out of order",
        ),
        pytest.param(
            [received(T0), stopped(T0 + DAY)],
            None,
            id="open pause: no deadline",
        ),
        pytest.param(
            [
                received(T0),
                stopped(T0 + DAY),
                restarted(T0 + 2 * DAY),
                stopped(T0 + 4 * DAY),
            ],
            None,
            id="restarted then stopped again: no deadline",
        ),
        pytest.param(
            [received(T0), restarted(T0 + DAY)],
            EPOC_DUE,
            id="a restart without a stop changes nothing",
        ),
        pytest.param(
            [
                received(T0),
                stopped(T0 + DAY),
                stopped(T0 + DAY + HOUR),
                restarted(T0 + DAY + 3 * HOUR),
            ],
            EPOC_DUE + 3 * HOUR,
            id="a second stop during a pause does not shorten it",
        ),
        pytest.param(
            [received(T0), stopped(T0 + DAY + 20 * SECOND), restarted(T0 + DAY + MINUTE)],
            EPOC_DUE,
            id="a 40-second pause is rounded away",
        ),
        pytest.param([], None, id="no events: a draft"),
        pytest.param(
            [stopped(T0 + DAY), restarted(T0 + 2 * DAY)],
            None,
            id="no receipt: a draft has no clock",
        ),
    ],
)
def test_clarification_pauses_extend_the_epoc_deadline(events, expected):
    assert due_at(instrument=Instrument.EPOC, emergency=False, events=events) == expected


def test_pause_extends_a_one_hour_tco_clock_by_its_length():
    events = [received(T0), stopped(T0 + 10 * MINUTE), restarted(T0 + 55 * MINUTE)]
    assert due_at(instrument=Instrument.TCO_REMOVAL, emergency=False, events=events) == (
        T0 + HOUR + 45 * MINUTE
    )


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([], (timedelta(0), None), id="none"),
        pytest.param([received(T0)], (timedelta(0), None), id="received only"),
        pytest.param([stopped(T0), restarted(T0 + HOUR)], (HOUR, None), id="one closed pause"),
        pytest.param(
            [stopped(T0), restarted(T0 + HOUR), stopped(T0 + DAY)],
            (HOUR, T0 + DAY),
            id="closed pause then an open one",
        ),
        pytest.param(
            [stopped(T0 + DAY), restarted(T0 + HOUR), stopped(T0)],
            (HOUR, T0 + DAY),
            id="out of order",
        ),
        pytest.param([restarted(T0)], (timedelta(0), None), id="restart alone"),
        pytest.param(
            [
                stopped(datetime(2026, 10, 25, 1, 30, tzinfo=PARIS)),  # CEST, 23:30 UTC
                restarted(datetime(2026, 10, 25, 3, 30, tzinfo=PARIS)),  # CET, 02:30 UTC
            ],
            (3 * HOUR, None),
            id="a pause over the night the clocks go back lasts 3 hours, not 2",
        ),
    ],
)
def test_paused_time(events, expected):
    assert paused_time(events) == expected


# --- Daylight-saving time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "instrument", "emergency", "due_utc", "local_received", "local_due"),
    [
        pytest.param(
            utc(2026, 10, 24, 12, 0),
            Instrument.EPOC,
            False,
            utc(2026, 11, 3, 12, 0),
            "2026-10-24 14:00 CEST",
            "2026-11-03 13:00 CET",
            id="EPOC 10 days across the October change",
        ),
        pytest.param(
            utc(2026, 3, 20, 12, 0),
            Instrument.EPOC,
            False,
            utc(2026, 3, 30, 12, 0),
            "2026-03-20 13:00 CET",
            "2026-03-30 14:00 CEST",
            id="EPOC 10 days across the March change",
        ),
        pytest.param(
            utc(2026, 10, 24, 22, 0),
            Instrument.EPOC,
            True,
            utc(2026, 10, 25, 6, 0),
            "2026-10-25 00:00 CEST",
            "2026-10-25 07:00 CET",
            id="emergency EPOC 8 hours over the night the clocks go back",
        ),
    ],
)
def test_deadline_is_exact_in_utc_across_a_dst_change(
    received_at, instrument, emergency, due_utc, local_received, local_due
):
    due = due_at(instrument=instrument, emergency=emergency, events=[received(received_at)])
    assert due == due_utc
    assert due - received_at == time_allowed(instrument, emergency=emergency)
    # What a Paris reviewer sees: the wall clock moved by the DST shift, the duration did not.
    assert received_at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M %Z") == local_received
    assert due.astimezone(PARIS).strftime("%Y-%m-%d %H:%M %Z") == local_due


@pytest.mark.parametrize(
    ("events", "expected_utc"),
    [
        pytest.param(
            [received(datetime(2026, 10, 24, 14, 0, tzinfo=PARIS))],
            utc(2026, 11, 3, 12, 0),
            id="EPOC received at 14:00 Paris time",
        ),
        pytest.param(
            [
                received(utc(2026, 10, 20, 10, 0)),
                # 01:30 CEST to 03:30 CET is three hours, not the two the wall clock shows.
                stopped(datetime(2026, 10, 25, 1, 30, tzinfo=PARIS)),
                restarted(datetime(2026, 10, 25, 3, 30, tzinfo=PARIS)),
            ],
            utc(2026, 10, 30, 13, 0),
            id="a pause over the night the clocks go back, in Paris time",
        ),
    ],
)
def test_events_in_local_time_give_the_same_deadline_as_in_utc(events, expected_utc):
    in_utc = [ClockEvent(e.kind, e.at.astimezone(UTC)) for e in events]
    assert due_at(instrument=Instrument.EPOC, emergency=False, events=in_utc) == expected_utc
    assert due_at(instrument=Instrument.EPOC, emergency=False, events=events) == expected_utc


def test_emergency_epoc_in_local_time_is_not_given_a_ninth_hour():
    local = datetime(2026, 10, 25, 0, 0, tzinfo=PARIS)  # 22:00 UTC the day before
    due = due_at(instrument=Instrument.EPOC, emergency=True, events=[received(local)])
    assert due == utc(2026, 10, 25, 6, 0)
    # Subtracting in UTC: two datetimes of one zone subtract by wall clock, hiding the bug.
    assert due.astimezone(UTC) - local.astimezone(UTC) == timedelta(hours=8)


# --- Emergencies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "flag", "expected"),
    [
        (Instrument.EMERGENCY_DISCLOSURE, False, True),  # always an emergency
        (Instrument.EMERGENCY_DISCLOSURE, True, True),
        (Instrument.EPOC, False, False),  # only when flagged
        (Instrument.EPOC, True, True),
        (Instrument.EPOC_PR, True, False),  # flag ignored: no emergency procedure here
        (Instrument.EPOC_PR, False, False),
        (Instrument.TCO_REMOVAL, True, False),  # one hour anyway; no emergency variant
        (Instrument.TCO_REMOVAL, False, False),
        (Instrument.DSA_ART9, True, False),
        (Instrument.DSA_ART10, True, False),
        (Instrument.INQUIRY, True, False),
        (Instrument.INQUIRY, False, False),
    ],
)
def test_is_emergency(instrument, flag, expected):
    assert is_emergency(instrument, flag) is expected


def test_an_ignored_emergency_flag_does_not_shorten_the_clock():
    emergency = is_emergency(Instrument.DSA_ART10, True)
    assert due_at(instrument=Instrument.DSA_ART10, emergency=emergency, events=[received(T0)]) == (
        T0 + 10 * DAY
    )
