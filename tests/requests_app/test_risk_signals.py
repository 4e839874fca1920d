"""Risk signals are computed at submission and stored with the request (issue 13, finding 9): a
later request or an ageing account cannot hide them; emergency volume is counted per authority as
well as per officer; the IP-country file is read again when it changes; the queue marks requests
that have signals."""

import os
import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from requests_app import risk
from requests_app.models import LegalRequest
from tests.conftest import passkey_login, verified_login
from tests.factories import OfficerFactory, totp_device
from tests.requests_app.helpers import submit

pytestmark = pytest.mark.django_db

FIRST_EMERGENCY = "First emergency request of this officer account."
NEW_ACCOUNT = "New officer account"


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    # Volume signals need more submissions than the hourly limit allows; they are not about it.
    settings.PORTAL_RATE_SUBMISSION = "10000/h"
    settings.PORTAL_RATE_UPLOAD = "10000/h"


def submit_as(client, officer, instrument) -> LegalRequest:
    # Emergency requests are submitted only from a passkey-verified session (finding on
    # phishing-resistant second factors).
    if instrument == Instrument.EMERGENCY_DISCLOSURE:
        passkey_login(client, officer)
    else:
        verified_login(client, officer)
    assert submit(client, instrument).status_code == 302
    return LegalRequest.objects.filter(officer=officer).latest("received_at")


def section(page: str, element_id: str) -> str:
    """The text of one part of the verification panel (the divs there do not nest)."""
    match = re.search(rf'id="{element_id}">(.*?)</div>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return match.group(1)


def review_detail(client, reviewer, legal_request) -> str:
    verified_login(client, reviewer)
    response = client.get(reverse("review:detail", args=[legal_request.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_an_ordinary_request_first_does_not_hide_the_first_emergency_of_an_account(
    client, officer, reviewer
):
    submit_as(client, officer, Instrument.INQUIRY)
    first = submit_as(client, officer, Instrument.EMERGENCY_DISCLOSURE)
    second = submit_as(client, officer, Instrument.EMERGENCY_DISCLOSURE)

    page = review_detail(client, reviewer, first)
    assert FIRST_EMERGENCY in page
    assert FIRST_EMERGENCY in section(page, "risk-at-submission")
    assert FIRST_EMERGENCY in section(page, "risk-now")
    assert FIRST_EMERGENCY not in review_detail(client, reviewer, second)


def test_signals_stored_at_submission_survive_the_account_ageing(client, officer, reviewer):
    legal_request = submit_as(client, officer, Instrument.INQUIRY)

    with time_machine.travel(timezone.now() + timedelta(days=40)):  # past NEW_ACCOUNT_DAYS
        page = review_detail(client, reviewer, legal_request)

    assert "New officer account: 0 days old" in page
    assert "New officer account: 0 days old" in section(page, "risk-at-submission")
    assert NEW_ACCOUNT not in section(page, "risk-now")
    # Stored as a code and parameters, rendered in the reader's language when shown.
    legal_request.refresh_from_db()
    assert legal_request.risk_signal_count == 1
    assert legal_request.risk_snapshot["signals"] == [
        {"code": "new_account", "params": {"days": 0, "limit": risk.NEW_ACCOUNT_DAYS}}
    ]


def test_volume_after_the_request_is_shown_now_as_new_since_submission(client, officer, reviewer):
    first = submit_as(client, officer, Instrument.INQUIRY)
    for _ in range(risk.VOLUME_THRESHOLD):
        submit_as(client, officer, Instrument.INQUIRY)

    page = review_detail(client, reviewer, first)
    volume = f"Unusual volume: {risk.VOLUME_THRESHOLD + 1} requests from this officer"
    assert volume not in section(page, "risk-at-submission")
    now = section(page, "risk-now")
    assert volume in now
    assert re.search(r"Unusual volume:[^<]*<em>\(new since submission\)</em>", now)


def test_emergency_volume_is_counted_per_authority_across_its_officers(
    client, officer, colleague, authority, reviewer
):
    third = OfficerFactory(authority=authority, email="luc@interieur.gouv.fr")
    totp_device(third)
    officers = [officer, colleague, third]
    for _ in range(2):  # 2 each: no officer alone above the threshold, 6 for the authority
        for each in officers:
            last = submit_as(client, each, Instrument.EMERGENCY_DISCLOSURE)

    page = review_detail(client, reviewer, last)
    authority_volume = "6 emergency requests from this authority in 24 hours, by 3 officers"
    assert authority_volume in page
    assert authority_volume in section(page, "risk-at-submission")
    assert "emergency requests from this officer" not in page
    assert risk.EMERGENCY_VOLUME_OFFICER_THRESHOLD >= 2
    assert risk.EMERGENCY_VOLUME_AUTHORITY_THRESHOLD < 6


def test_emergency_volume_of_one_officer_is_a_signal(client, officer, reviewer):
    for _ in range(3):  # above EMERGENCY_VOLUME_OFFICER_THRESHOLD (2)
        last = submit_as(client, officer, Instrument.EMERGENCY_DISCLOSURE)

    page = review_detail(client, reviewer, last)
    assert "3 emergency requests from this officer in 24 hours" in page
    assert "3 emergency requests from this officer" in section(page, "risk-at-submission")


def test_the_ip_country_file_is_read_again_when_it_changes(settings, tmp_path):
    path = tmp_path / "ip-country.csv"
    path.write_text("# network,country\n10.0.0.0/8,FR\n")
    settings.PORTAL_IP_COUNTRY_FILE = str(path)
    assert risk.ip_country("10.1.2.3") == "FR"

    path.write_text("# network,country\n10.0.0.0/8,DE\n192.0.2.0/24,BE\n")  # edited in place
    assert risk.ip_country("10.1.2.3") == "DE"

    replacement = tmp_path / "ip-country.csv.new"
    replacement.write_text("10.0.0.0/8,NL\n")
    os.replace(replacement, path)  # replaced whole, as an export job would
    assert risk.ip_country("10.1.2.3") == "NL"


def test_the_ip_country_signal_is_stored_from_the_submitting_address(
    client, officer, reviewer, settings, tmp_path
):
    path = tmp_path / "ip-country.csv"
    path.write_text("127.0.0.0/8,DE\n")  # the test client's address, outside France
    settings.PORTAL_IP_COUNTRY_FILE = str(path)
    legal_request = submit_as(client, officer, Instrument.INQUIRY)
    path.write_text("127.0.0.0/8,FR\n")

    page = review_detail(client, reviewer, legal_request)
    assert "Submitted from an IP address in DE" in page
    assert "Submitted from an IP address in DE" in section(page, "risk-at-submission")
    assert "Submitted from an IP address" not in section(page, "risk-now")


def test_a_missing_ip_country_file_does_not_stop_a_submission(client, officer, settings, tmp_path):
    settings.PORTAL_IP_COUNTRY_FILE = str(tmp_path / "absent.csv")
    legal_request = submit_as(client, officer, Instrument.INQUIRY)
    assert legal_request.reference


def test_a_request_submitted_before_signals_were_stored_says_so(client, officer, reviewer):
    legal_request = submit_as(client, officer, Instrument.INQUIRY)
    LegalRequest.objects.filter(pk=legal_request.pk).update(risk_snapshot=None, risk_signal_count=0)

    page = review_detail(client, reviewer, legal_request)
    assert "Not recorded at submission" in section(page, "risk-at-submission")
    assert NEW_ACCOUNT in section(page, "risk-now")


def test_the_queue_marks_requests_with_risk_signals(client, officer, outsider, reviewer):
    outsider.date_joined = timezone.now() - timedelta(days=400)
    outsider.save(update_fields=["date_joined"])
    flagged = submit_as(client, officer, Instrument.INQUIRY)  # a new account: one signal
    clean = submit_as(client, outsider, Instrument.INQUIRY)

    verified_login(client, reviewer)
    page = client.get(reverse("review:queue")).content.decode()
    rows = {
        re.search(r"LR-\d{4}-\d{6}", row).group(0): row
        for row in re.findall(r"<tr>\s*<td\b.*?</tr>", page, re.S)
    }
    assert "1 risk signal" in rows[flagged.reference]
    assert 'title="New officer account: 0 days old' in rows[flagged.reference]
    assert "risk signal" not in rows[clean.reference]

    filtered = client.get(reverse("review:queue"), {"risk": "1"}).content.decode()
    assert flagged.reference in filtered and clean.reference not in filtered


def test_the_volumes_are_counted_in_one_query_and_exactly(
    client, officer, colleague, outsider, django_assert_num_queries
):
    """The officer's volumes and the authority's emergency volume are one query on the review
    page (docs/performance.md), with the same counts as apart: a colleague's ordinary request and
    another authority's emergency count for neither, a draft and an older request for nothing."""
    for _ in range(3):
        submit_as(client, officer, Instrument.EMERGENCY_DISCLOSURE)
    for _ in range(4):
        last = submit_as(client, officer, Instrument.INQUIRY)
    for _ in range(4):
        submit_as(client, colleague, Instrument.EMERGENCY_DISCLOSURE)
    submit_as(client, colleague, Instrument.INQUIRY)
    submit_as(client, outsider, Instrument.EMERGENCY_DISCLOSURE)
    verified_login(client, officer)
    assert submit(client, Instrument.INQUIRY, action="save").status_code == 302  # a draft
    older = LegalRequest.objects.filter(officer=officer).earliest("received_at")
    LegalRequest.objects.filter(pk=older.pk).update(
        received_at=older.received_at - timedelta(days=2)
    )
    # As the review page reads it: its documents (whose signatures are signals too) come with it.
    legal_request = (
        LegalRequest.objects.select_related("officer", "authority")
        .prefetch_related("attachments")
        .get(pk=last.pk)
    )

    with django_assert_num_queries(1):
        signals = {s.code: s.params for s in risk.risk_signals(legal_request)}
    assert signals["volume"] == {"count": 6, "threshold": risk.VOLUME_THRESHOLD}
    assert "emergency_volume_officer" not in signals  # 2 in the window, not 3
    assert signals["emergency_volume_authority"] == {
        "count": 6,
        "officers": 2,
        "threshold": risk.EMERGENCY_VOLUME_AUTHORITY_THRESHOLD,
    }
