"""The volume and IP-country risk signals (requests_app/risk.py) at their edges: each fires when
the facts call for it and stays silent when they do not.

The requests are rows written here, received at chosen moments; compute_signals is called as
the submission calls it (as known at receipt) and as the reviewer's screen does (as known now).
How the signals are stored at submission and shown is tested through the pages in
test_risk_signals.py.
"""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from authorities.constants import Instrument
from requests_app import risk
from requests_app.models import LegalRequest, Status
from tests.factories import OfficerFactory

pytestmark = pytest.mark.django_db

RECEIVED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
_numbers = itertools.count(1)


def received(officer, at=RECEIVED, *, emergency=False, ip=None, status=Status.SUBMITTED):
    """A request of `officer` received at `at`."""
    return LegalRequest.objects.create(
        instrument=Instrument.EMERGENCY_DISCLOSURE if emergency else Instrument.INQUIRY,
        is_emergency=emergency,
        status=status,
        authority=officer.authority,
        officer=officer,
        reference=f"LR-2026-{next(_numbers):06d}",
        received_at=at,
        created_at=at,
        submitted_ip=ip,
    )


def signals(legal_request, now=None) -> dict[str, dict]:
    return {signal.code: signal.params for signal in risk.compute_signals(legal_request, now=now)}


def seasoned(officer):
    """An account a year old: no new-account signal beside the ones under test."""
    officer.date_joined = RECEIVED - timedelta(days=365)
    officer.save(update_fields=["date_joined"])
    return officer


@pytest.fixture
def marie(officer):
    return seasoned(officer)


# --- Volume: all requests of one officer in 24 hours ---------------------------------------------


def test_volume_is_silent_at_the_threshold_and_fires_above_it(marie):
    for n in range(risk.VOLUME_THRESHOLD):
        last = received(marie, RECEIVED + n * MINUTE)
    assert "volume" not in signals(last)

    one_more = received(marie, RECEIVED + risk.VOLUME_THRESHOLD * MINUTE)
    assert signals(one_more)["volume"] == {
        "count": risk.VOLUME_THRESHOLD + 1,
        "threshold": risk.VOLUME_THRESHOLD,
    }


def test_requests_received_24_hours_or_more_before_do_not_count(marie):
    for n in range(3):  # at the window's start and before it
        received(marie, RECEIVED - risk.VOLUME_WINDOW - n * MINUTE)
    for n in range(risk.VOLUME_THRESHOLD - 1):
        received(marie, RECEIVED - risk.VOLUME_WINDOW + (n + 1) * MINUTE)
    this = received(marie, RECEIVED)
    assert "volume" not in signals(this)

    received(marie, RECEIVED - MINUTE)  # inside the window: now one above the threshold
    assert signals(this)["volume"]["count"] == risk.VOLUME_THRESHOLD + 1


def test_requests_of_colleagues_do_not_count_towards_an_officers_volume(marie, colleague):
    for n in range(2 * risk.VOLUME_THRESHOLD):
        received(colleague, RECEIVED - n * MINUTE)
    mine = received(marie, RECEIVED)
    assert "volume" not in signals(mine)


def test_requests_withdrawn_or_refused_since_still_count(marie):
    statuses = [Status.WITHDRAWN, Status.REFUSED, Status.CLOSED, Status.IN_REVIEW, Status.RESPONDED]
    for n in range(risk.VOLUME_THRESHOLD):
        received(marie, RECEIVED - (n + 1) * MINUTE, status=statuses[n % len(statuses)])
    assert signals(received(marie, RECEIVED))["volume"]["count"] == risk.VOLUME_THRESHOLD + 1


def test_volume_at_submission_counts_up_to_receipt_and_now_the_day_after(marie):
    first = received(marie, RECEIVED)
    for n in range(risk.VOLUME_THRESHOLD):
        received(marie, RECEIVED + (n + 1) * MINUTE)
    received(marie, RECEIVED + risk.VOLUME_WINDOW + MINUTE)  # after the day: never counted

    assert "volume" not in signals(first)  # at submission: it was the only one
    assert "volume" not in signals(first, now=RECEIVED + 2 * MINUTE)  # 3 so far
    now = signals(first, now=RECEIVED + 2 * risk.VOLUME_WINDOW)
    assert now["volume"]["count"] == risk.VOLUME_THRESHOLD + 1


def test_a_closed_windows_figures_are_read_once_then_from_the_cache(
    marie, django_assert_num_queries
):
    """Once receipt + 24 hours has passed no request can enter the window (received_at is the
    time of submission), so the review page counts it once; an open window is always
    counted, and the cached figures are exactly those counted."""
    first = received(marie, RECEIVED, emergency=True)
    for n in range(risk.VOLUME_THRESHOLD):
        received(marie, RECEIVED + (n + 1) * MINUTE)
    closed = RECEIVED + risk.VOLUME_WINDOW + MINUTE

    # The first emergency and the volumes, then the order's documents for the signatures (the
    # review page has them prefetched).
    with django_assert_num_queries(3):
        counted = signals(first, now=closed)
    with django_assert_num_queries(1):
        cached = signals(first, now=closed + timedelta(days=3))
    assert cached == counted
    assert counted["volume"]["count"] == risk.VOLUME_THRESHOLD + 1
    assert "first_emergency" in counted

    # The window still open: counted each time, and a request received since is seen.
    still_open = RECEIVED + 10 * MINUTE
    with django_assert_num_queries(3):
        signals(first, now=still_open)
    received(marie, RECEIVED + 9 * MINUTE)
    assert signals(first, now=still_open)["volume"]["count"] == risk.VOLUME_THRESHOLD + 2


def test_without_the_cache_the_figures_are_counted(marie, settings, caplog):
    """Redis down: the reviewer's panel is counted as before, with a warning in the log."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    first = received(marie, RECEIVED)
    for n in range(risk.VOLUME_THRESHOLD):
        received(marie, RECEIVED + (n + 1) * MINUTE)

    now = signals(first, now=RECEIVED + 2 * risk.VOLUME_WINDOW)

    assert now["volume"]["count"] == risk.VOLUME_THRESHOLD + 1
    assert "cache unavailable" in caplog.text


# --- Emergency volume: of one officer, and of one authority across its officers -----------------


def test_emergency_volume_of_an_officer_is_silent_at_the_threshold_and_fires_above_it(marie):
    for n in range(risk.EMERGENCY_VOLUME_OFFICER_THRESHOLD):
        last = received(marie, RECEIVED + n * MINUTE, emergency=True)
    for n in range(risk.VOLUME_THRESHOLD):  # ordinary requests are not emergencies
        received(marie, RECEIVED - (n + 1) * MINUTE)
    assert "emergency_volume_officer" not in signals(last)

    one_more = received(marie, RECEIVED + risk.VOLUME_THRESHOLD * MINUTE, emergency=True)
    assert signals(one_more)["emergency_volume_officer"] == {
        "count": risk.EMERGENCY_VOLUME_OFFICER_THRESHOLD + 1,
        "threshold": risk.EMERGENCY_VOLUME_OFFICER_THRESHOLD,
    }


def test_emergency_volume_of_an_authority_counts_its_officers_and_no_other_authority(
    marie, authority, outsider
):
    threshold = risk.EMERGENCY_VOLUME_AUTHORITY_THRESHOLD
    officers = [marie] + [
        seasoned(OfficerFactory(authority=authority)) for _ in range(threshold - 1)
    ]
    for n, each in enumerate(officers):  # one each: no officer above the officer threshold
        last = received(each, RECEIVED + n * MINUTE, emergency=True)
    seasoned(outsider)
    for n in range(threshold):  # another authority's emergencies
        received(outsider, RECEIVED - (n + 1) * MINUTE, emergency=True)
    assert "emergency_volume_authority" not in signals(last)

    one_more = received(marie, RECEIVED + threshold * MINUTE, emergency=True)
    assert signals(one_more)["emergency_volume_authority"] == {
        "count": threshold + 1,
        "officers": threshold,
        "threshold": threshold,
    }


# --- IP country: the submitting address outside the authority's country -------------------------


@pytest.fixture
def ip_country_file(settings, tmp_path):
    path = tmp_path / "ip-country.csv"
    path.write_text(
        "# network,country\n"
        "192.0.2.0/24,DE\n"
        "198.51.100.0/24,FR\n"
        "2001:db8::/32,be\n"  # lower case in the export: compared in upper case
        "203.0.113.0/25, fr \n"
    )
    settings.PORTAL_IP_COUNTRY_FILE = str(path)
    return path


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("192.0.2.10", "DE"),
        ("2001:db8::7", "BE"),
    ],
)
def test_an_address_in_another_country_is_a_signal(marie, ip_country_file, ip, country):
    this = received(marie, ip=ip)
    assert signals(this)["ip_country"] == {"country": country, "authority_country": "FR"}
    assert this.authority.country == "FR"


@pytest.mark.parametrize(
    "ip",
    [
        pytest.param("198.51.100.23", id="in the authority's country"),
        pytest.param("203.0.113.5", id="in the authority's country, written ' fr '"),
        pytest.param("203.0.113.200", id="in no listed network"),
        pytest.param("2001:db9::1", id="IPv6 in no listed network"),
        pytest.param(None, id="no address recorded"),
    ],
)
def test_an_address_in_the_authoritys_country_or_unknown_is_no_signal(marie, ip_country_file, ip):
    assert "ip_country" not in signals(received(marie, ip=ip))


def test_without_an_ip_country_file_there_is_no_signal(marie, settings):
    settings.PORTAL_IP_COUNTRY_FILE = None
    assert "ip_country" not in signals(received(marie, ip="192.0.2.10"))


def test_a_broken_ip_country_file_gives_no_signal_and_says_why(marie, settings, tmp_path, caplog):
    path = tmp_path / "ip-country.csv"
    path.write_text("192.0.2.0/24,DE\nnot-a-network,FR\n")
    settings.PORTAL_IP_COUNTRY_FILE = str(path)
    assert "ip_country" not in signals(received(marie, ip="192.0.2.10"))
    assert "IP-country file" in caplog.text and "unusable" in caplog.text
