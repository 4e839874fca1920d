"""The emergency form asks only what an emergency needs (issue 17, "Emergencies first"): the
fields come from the instrument's rule (instruments.InstrumentRule.optional_fields), one place."""

import dataclasses
import re

import pytest
from django.urls import reverse

from authorities.constants import Instrument
from requests_app import instruments
from requests_app.forms import LegalRequestForm
from requests_app.models import LegalRequest
from tests.conftest import passkey_login, verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db

EMERGENCY = Instrument.EMERGENCY_DISCLOSURE


def _asked(html: str) -> set[str]:
    start = html.index('enctype="multipart/form-data"')
    form = html[start : html.index("</form>", start)]
    return set(re.findall(r'<(?:input|textarea|select)[^>]*name="([a-z_0-9]+)"', form)) - {
        "csrfmiddlewaretoken",
        "action",
        "portal_kept_form",
    }


def test_the_emergency_form_asks_the_threat_targets_and_data_and_nothing_an_order_needs(
    client, officer
):
    verified_login(client, officer)
    html = client.get(reverse("requests:create", args=[EMERGENCY])).content.decode()
    assert _asked(html) == {
        "case_reference",
        "statement_of_reasons",
        "emergency_justification",
        "targets",
        "data_categories",
        "documents",
        "confidential",
    }
    for not_asked in ("Legal basis", "Validating authority", "Language of the order"):
        assert not_asked not in html


def test_the_emergency_form_names_the_registry_call_back_number(client, officer):
    officer.authority.callback_phone = "+33140000000"
    officer.authority.save(update_fields=["callback_phone"])
    verified_login(client, officer)
    html = client.get(reverse("requests:create", args=[EMERGENCY])).content.decode()
    note = re.search(r'<p class="note" id="callback-note">(.*?)</p>', html, re.S).group(1)
    assert "+33140000000" in note and "calls your authority back" in note
    ordinary = client.get(reverse("requests:create", args=[Instrument.EPOC])).content.decode()
    assert 'id="callback-note"' not in ordinary


def test_an_order_keeps_its_full_form(client, officer):
    verified_login(client, officer)
    html = client.get(reverse("requests:create", args=[Instrument.EPOC])).content.decode()
    assert {"legal_basis", "validating_authority", "language", "offence", "period_start"} <= (
        _asked(html)
    )


def test_the_short_form_follows_the_rule_alone(monkeypatch):
    """Another instrument given a short form asks only its required and optional fields."""
    short = dataclasses.replace(
        instruments.RULES[Instrument.EPOC], optional_fields=frozenset({instruments.CONFIDENTIAL})
    )
    monkeypatch.setitem(instruments.RULES, Instrument.EPOC, short)
    form = LegalRequestForm(instrument=Instrument.EPOC)
    assert set(form.fields) == {
        "case_reference",
        "legal_basis",
        "statement_of_reasons",
        "offence",
        "targets",
        "data_categories",
        "period_start",
        "period_end",
        "documents",
        "confidential",
    }


def test_an_emergency_submitted_from_the_short_form_is_stored_in_the_officers_language(
    client, officer
):
    officer.preferred_language = "fr"
    officer.save(update_fields=["preferred_language"])
    passkey_login(client, officer)
    response = submit(client, EMERGENCY, documents=[])
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = LegalRequest.objects.get()
    assert stored.is_emergency and stored.language == "fr" and stored.legal_basis == ""


def test_a_missing_threat_is_said_once(client, officer):
    passkey_login(client, officer)
    data = {**VALID[EMERGENCY], "emergency_justification": ""}
    html = submit(client, EMERGENCY, data, documents=[]).content.decode()
    assert html.count("needs the emergency justification") == 1
    assert "must describe the imminent threat" not in html
    assert LegalRequest.objects.count() == 0
