"""Emergencies first (issue 17): the emergency block on the officer's home and the instrument
choice, what the officer is told after submitting, and the lead's notice and approval."""

import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from requests_app import instruments, policies
from requests_app.models import LegalRequest
from requests_app.notifications import deliver_all_due
from tests.clock_table import POLICY_MINUTES
from tests.conftest import _staff_user, current_code, passkey_login, verified_login
from tests.requests_app.helpers import submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _documented_policy(settings):
    settings.PORTAL_DEADLINE_MINUTES = dict(POLICY_MINUTES)


def _emergency_block(html: str) -> str:
    match = re.search(r'<section class="bad-box emergency-first".*?</section>', html, re.S)
    assert match, "no emergency block"
    return match.group(0)


@pytest.mark.parametrize("page", ["home", "requests:new"])
def test_emergency_comes_first_and_apart_with_when_and_deadline(client, officer, page):
    verified_login(client, officer)
    html = client.get(reverse(page)).content.decode()
    block = _emergency_block(html)
    # First: before the other instrument cards, and before the home's panel.
    first_other = "<h2>Other instruments</h2>" if page == "requests:new" else 'class="panel"'
    assert html.index(block) < html.index(first_other)
    assert "Emergency: threat to life" in block
    emergency = instruments.rule_for(Instrument.EMERGENCY_DISCLOSURE)
    assert str(emergency.label) in block
    assert emergency.when_to_use in block
    assert "Answer target: 1 hour" in block  # PORTAL_DEADLINE_MINUTES["emergency_disclosure"]
    assert reverse("requests:create", args=[Instrument.EMERGENCY_DISCLOSURE]) in block
    # The EPOC's emergency variant, with its legal limit and the emergency box ticked.
    assert "Legal time limit: 8 hours" in block
    epoc_url = reverse("requests:create", args=[Instrument.EPOC]) + "?emergency=1"
    assert epoc_url in block
    assert block.index("Emergency disclosure request") < block.index("(EPOC)")
    if page == "requests:new":
        rest = html.replace(block, "")
        # Apart: the emergency instrument is not among the other cards again.
        assert reverse("requests:create", args=[Instrument.EMERGENCY_DISCLOSURE]) not in rest
        for code, rule in instruments.RULES.items():
            assert rule.when_to_use, code
            if not rule.always_emergency:
                assert rule.when_to_use in rest
        assert "Legal time limit: 10 days" in rest  # EPOC
        assert "Legal time limit: 1 hour" in rest  # TCO
        assert "Answer target: 14 days" in rest  # inquiry


def test_the_emergency_variant_link_ticks_the_emergency_box(client, officer):
    verified_login(client, officer)
    url = reverse("requests:create", args=[Instrument.EPOC])
    ticked = client.get(url + "?emergency=1").content.decode()
    plain = client.get(url).content.decode()
    box = r'<input type="checkbox" name="is_emergency"[^>]*>'
    assert "checked" in re.search(box, ticked).group(0)
    assert "checked" not in re.search(box, plain).group(0)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_after_an_emergency_submission_the_officer_is_told_about_the_call_back(client, officer):
    passkey_login(client, officer)  # an emergency needs a passkey session
    with time_machine.travel("2026-11-27 10:15:00Z", tick=False):
        response = submit(client, Instrument.EMERGENCY_DISCLOSURE)
        assert response.status_code == 302
        page = client.get(response["Location"])
    said = " ".join(_messages(page))
    assert "the platform will call your authority back on its registered number" in said, said
    assert "Time left: 1 h 0 min" in said  # the emergency disclosure's 60-minute target
    assert said.count("What happens next") == 1


def test_after_an_ordinary_submission_the_officer_is_told_the_target_and_legal_limit(
    client, officer
):
    verified_login(client, officer)
    with time_machine.travel("2026-11-27 10:15:00Z", tick=False):
        response = submit(client, Instrument.EPOC)
        assert response.status_code == 302
        page = client.get(response["Location"])
    said = " ".join(_messages(page))
    request = LegalRequest.objects.get(instrument=Instrument.EPOC)
    assert "What happens next: the legal team answers by" in said, said
    assert "(10 d 0 h 0 min left)" in said
    legal = f"{timezone.localtime(request.legal_due_at):%Y-%m-%d %H:%M %Z}"
    assert f"Legal time limit: {legal}." in said
    assert "call your authority back" not in said


# --- The lead's notice, dashboard list and approval ------------------------------------------


def _act(client, legal_request, name, data=None):
    return client.post(reverse("review:action", args=[legal_request.public_id, name]), data or {})


def test_leads_are_emailed_and_listed_until_one_approves(client, officer, reviewer, lead):
    lead.on_duty = False  # not on duty: the emergency's approval still waits for a lead
    lead.save(update_fields=["on_duty"])
    other_lead = _staff_user("second.lead@platform.example", "lead")
    mail.outbox.clear()
    passkey_login(client, officer)
    assert submit(client, Instrument.EMERGENCY_DISCLOSURE).status_code == 302
    emergency = LegalRequest.objects.get(instrument=Instrument.EMERGENCY_DISCLOSURE)
    review_url = reverse("review:detail", args=[emergency.public_id])

    # At once, by e-mail: every lead, with the review page's link.
    deliver_all_due()
    to_lead = [m for m in mail.outbox if lead.email in m.to]
    assert len(to_lead) == 1, [m.to for m in mail.outbox]
    body = to_lead[0].body
    assert "Emergency approval waiting" in body
    assert review_url in body
    assert any(other_lead.email in m.to for m in mail.outbox)

    # On the dashboard: listed, the call-back still to be made, with a link it can open.
    passkey_login(client, lead)
    dashboard = client.get(reverse("review:dashboard")).content.decode()
    waiting = re.search(r'<section[^>]*id="approvals-waiting".*?</section>', dashboard, re.S)
    assert waiting and f'href="{review_url}"' in waiting.group(0)
    assert "call-back to be made first" in waiting.group(0)
    assert client.get(review_url).status_code == 200

    verified_login(client, reviewer)
    _act(client, emergency, "accept")
    _act(client, emergency, "callback", {"outcome": "confirmed"})
    passkey_login(client, lead)
    dashboard = client.get(reverse("review:dashboard")).content.decode()
    assert "call-back confirmed: ready to approve" in dashboard
    page = client.get(review_url + "?action=approve").content.decode()
    approve_url = reverse("review:action", args=[emergency.public_id, "approve"])
    assert f'action="{approve_url}"' in page

    _act(client, emergency, "approve", {"otp_token": current_code(lead.totpdevice_set.get())})
    assert emergency.approvals.count() == 1
    # After approving: no approve form, the approval named, and off the dashboard's list.
    page = client.get(review_url + "?action=approve").content.decode()
    assert f'action="{approve_url}"' not in page and "?action=approve#" not in page
    assert "Approved by" in page
    dashboard = client.get(reverse("review:dashboard")).content.decode()
    waiting = re.search(r'<section[^>]*id="approvals-waiting".*?</section>', dashboard, re.S)
    assert review_url not in waiting.group(0)
    assert "No emergency waits for a lead's approval." in waiting.group(0)

    # The policy refuses a second approval, by the same lead or another.
    emergency = LegalRequest.objects.get(pk=emergency.pk)
    assert not policies.decide(lead, "approve", emergency)
    assert not policies.decide(other_lead, "approve", emergency)
    passkey_login(client, other_lead)
    assert f'action="{approve_url}"' not in client.get(review_url).content.decode()
    _act(client, emergency, "approve", {"otp_token": current_code(other_lead.totpdevice_set.get())})
    assert list(emergency.approvals.values_list("approved_by", flat=True)) == [lead.pk]
