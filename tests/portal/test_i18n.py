"""The interface in English and French, e-mails in the recipient's language, and times in the
viewer's time zone with the zone named."""

import gettext as gnu_gettext
import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import translation

from authorities.constants import Instrument
from requests_app.models import LegalRequest
from requests_app.notifications import deliver_all_due
from tests.conftest import verified_login
from tests.factories import PASSWORD
from tests.requests_app.helpers import submit

pytestmark = pytest.mark.django_db

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES"


@pytest.fixture(autouse=True)
def _english_afterwards():
    """LocaleMiddleware leaves the last request's language active in this thread."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def french(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    return client


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_landing_is_in_french_for_a_french_browser(client):
    html = client.get(reverse("landing"), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9").content.decode()
    assert '<html lang="fr">' in html
    assert "Demandes juridiques des autorités compétentes de l'UE" in html
    assert "Le délai légal court dès la réception" in html
    assert "S'inscrire avec une adresse officielle" in html
    for english in (
        "Legal requests from EU competent authorities",
        "Verified authorities only",
        "The legal clock starts at receipt",
        "Sign up with an official e-mail",
        "For EU competent authorities only.",
        "Skip to content",
    ):
        assert english not in html


def test_landing_stays_in_english_by_default(client):
    html = page(client, reverse("landing"))
    assert '<html lang="en">' in html
    assert "Legal requests from EU competent authorities" in html


def test_login_and_sign_up_pages_are_in_french(client):
    french(client)
    login = page(client, reverse("authorities:login"))
    assert "Adresse électronique" in login and "Mot de passe oublié" in login
    assert "Forgot your password?" not in login and "E-mail address" not in login
    signup = page(client, reverse("authorities:signup"))
    assert "Inscription en tant qu'agent d'une autorité compétente de l'UE" in signup
    assert "Adresse électronique officielle" in signup
    assert "Sign up as an officer" not in signup and "Official e-mail address" not in signup
    refused = client.post(
        reverse("authorities:signup"), {"email": "someone@gmail.com", "full_name": "X"}
    ).content.decode()
    assert "ne sont pas traitées ici" in refused
    assert "are not processed here" not in refused


def test_issue_13_pages_are_in_french(client, authority, officer):
    """The pages the account-layer work added: the link's choose-a-password page, the passkeys
    page and the passkey refusal of an emergency from a code-verified session."""
    from authorities.accounts import email_verification_token, officer_sign_up
    from authorities.models import User

    officer_sign_up(email="claire@interieur.gouv.fr", full_name="Claire", ip=None, language="fr")
    pending = User.objects.get(email="claire@interieur.gouv.fr")
    link = page(
        french(client),
        reverse("authorities:verify_email", args=[email_verification_token(pending)]),
    )
    assert "Confirmez votre adresse électronique" in link
    assert "Confirm your e-mail address" not in link
    passkeys = page(french(verified_login(client, officer)), reverse("authorities:passkeys"))
    assert "Vos clés d'accès" in passkeys and "Ajouter une clé d'accès" in passkeys
    assert "Your passkeys" not in passkeys and "Add a passkey" not in passkeys
    refused = submit(client, Instrument.EMERGENCY_DISCLOSURE).content.decode()
    assert "Une clé d'accès est nécessaire" in refused
    assert "A passkey is needed" not in refused


def test_officer_new_request_page_is_in_french(client, officer):
    html = page(french(verified_login(client, officer)), reverse("requests:new"))
    assert "Choisissez l'instrument juridique" in html
    assert "Ordonnance européenne de production (EPOC)" in html
    assert "Règlement (UE) 2023/1543 relatif aux preuves électroniques" in html
    assert "Nouvelle demande" in html
    for english in (
        "Choose the legal instrument",
        "European Production Order",
        "e-Evidence Regulation",
        "New request",
        "Start</a>",
    ):
        assert english not in html


def test_review_queue_is_in_french(client, reviewer, officer):
    submitter = verified_login(type(client)(), officer)
    submit(submitter, Instrument.INQUIRY)
    html = page(french(verified_login(client, reviewer)), reverse("review:queue"))
    assert "File d'examen" in html
    assert "Les plus urgentes d'abord" in html
    assert "Demande de renseignements" in html  # the instrument's label
    assert "Reçue" in html  # the status
    for english in ("Review queue", "Most urgent first", "General inquiry", "Nothing to show"):
        assert english not in html


def _po_entries(path: Path) -> list[dict]:
    """msgid/msgstr pairs and flags of a .po file (enough of the format for this check)."""
    entries = []
    for block in path.read_text().strip().split("\n\n"):
        flags = " ".join(line for line in block.splitlines() if line.startswith("#,"))
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if match := re.match(r"^(msgid|msgid_plural|msgstr(?:\[\d\])?) (\".*\")$", line):
                key = match.group(1)
                fields[key] = match.group(2)[1:-1]
            elif line.startswith('"') and key:
                fields[key] += line[1:-1]
        entries.append({"flags": flags, **fields})
    return entries


def test_french_catalogue_is_complete_and_compiled():
    entries = [e for e in _po_entries(CATALOGUE / "django.po") if e.get("msgid")]
    assert len(entries) > 500
    untranslated = [
        e["msgid"] for e in entries if any(v == "" for k, v in e.items() if k.startswith("msgstr"))
    ]
    assert untranslated == []
    assert [e["msgid"] for e in entries if "fuzzy" in e["flags"]] == []
    # The committed .mo is the compiled .po: every message is in it, translated.
    compiled = gnu_gettext.GNUTranslations((CATALOGUE / "django.mo").open("rb"))
    assert compiled.gettext("Review queue") == "File d'examen"
    assert len(compiled._catalog) >= len(entries)


def test_language_picker_works_without_login(client):
    response = client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    assert "Demandes juridiques des autorités compétentes" in page(client, reverse("landing"))
    assert 'action="/i18n/setlang/"' in page(client, reverse("landing"))


def test_language_picker_is_remembered_on_the_account(client, officer):
    verified_login(client, officer)
    client.post(reverse("set_language"), {"language": "fr", "next": reverse("home")})
    officer.refresh_from_db()
    assert officer.preferred_language == "fr"
    client.post(reverse("set_language"), {"language": "xx", "next": reverse("home")})
    officer.refresh_from_db()
    assert officer.preferred_language == "fr"


def test_login_switches_to_the_account_language(client, officer):
    officer.preferred_language = "fr"
    officer.save()
    response = client.post(
        reverse("authorities:login"), {"username": officer.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    assert "Second facteur" in page(client, response["Location"])


def test_account_preferences_set_language_and_time_zone(client, officer):
    verified_login(client, officer)
    response = client.post(
        reverse("authorities:account"),
        {"action": "preferences", "language": "fr", "time_zone": "Europe/Paris"},
    )
    assert response.status_code == 302
    officer.refresh_from_db()
    assert (officer.preferred_language, officer.time_zone) == ("fr", "Europe/Paris")
    assert "Vos préférences sont enregistrées." in page(client, reverse("authorities:account"))
    client.post(
        reverse("authorities:account"),
        {"action": "preferences", "language": "fr", "time_zone": "Mars/Olympus"},
    )
    officer.refresh_from_db()
    assert officer.time_zone == "Europe/Paris"


def test_french_officer_gets_the_acknowledgment_in_french(client, officer):
    officer.preferred_language = "fr"
    officer.save()
    submit(verified_login(client, officer), Instrument.INQUIRY)
    reference = LegalRequest.objects.get().reference
    deliver_all_due()
    [ack] = [m for m in mail.outbox if m.to == [officer.email]]
    assert ack.subject == f"[{reference}] Accusé de réception : Demande de renseignements"
    assert f"La plateforme a reçu votre demande {reference}" in ack.body
    assert "Statut\u00a0: Reçue" in ack.body  # French typography: a no-break space before ":"
    assert "Délai imparti à la plateforme" in ack.body
    html = ack.alternatives[0][0]
    assert '<html lang="fr">' in html and "Ce message a été envoyé par le portail" in html
    for english in ("The platform received", "Deadline for the platform", "General inquiry"):
        assert english not in ack.body and english not in html


def test_english_officer_gets_the_acknowledgment_in_english(client, officer):
    submit(verified_login(client, officer), Instrument.INQUIRY)
    reference = LegalRequest.objects.get().reference
    deliver_all_due()
    [ack] = [m for m in mail.outbox if m.to == [officer.email]]
    assert ack.subject == f"[{reference}] Received: General inquiry"
    assert f"The platform received your request {reference}" in ack.body


@pytest.mark.parametrize(
    ("utc", "shown"),
    [("2026-01-15 10:05Z", "2026-01-15 11:05 CET"), ("2026-07-15 10:05Z", "2026-07-15 12:05 CEST")],
)
def test_received_time_is_shown_in_the_viewers_zone_and_named(client, officer, utc, shown):
    officer.time_zone = "Europe/Paris"
    officer.save()
    with time_machine.travel(utc, tick=False):
        verified_login(client, officer)
        submit(client, Instrument.INQUIRY)
        legal_request = LegalRequest.objects.get()
        detail = page(client, reverse("requests:detail", args=[legal_request.public_id]))
        listing = page(client, reverse("requests:list"))
    assert f"<dt>Received</dt><dd>{shown}</dd>" in detail
    assert "Times in Europe/Paris." in listing
    assert shown.rsplit(" ", 1)[0] in listing


def test_utc_stays_the_default_zone(client, officer):
    with time_machine.travel("2026-01-15 10:05Z", tick=False):
        verified_login(client, officer)
        submit(client, Instrument.INQUIRY)
        legal_request = LegalRequest.objects.get()
        detail = page(client, reverse("requests:detail", args=[legal_request.public_id]))
        listing = page(client, reverse("requests:list"))
    assert "<dt>Received</dt><dd>2026-01-15 10:05 UTC</dd>" in detail
    assert "Times in UTC." in listing
