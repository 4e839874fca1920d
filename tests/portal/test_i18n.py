"""The interface in English and French, e-mails in the recipient's language, and times in the
viewer's time zone with the zone named."""

import gettext as gnu_gettext
import re
from html.parser import HTMLParser
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
from requests_app.receipts import receipts_issue_all_due
from tests.conftest import verified_login
from tests.factories import PASSWORD, OfficerFactory
from tests.page_tour import PAGES, build_tour, client_for
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


def test_every_string_marked_for_translation_is_in_the_french_catalogue():
    """A string marked in a template or in Python but missing from the catalogue shows in
    English on a French page: `makemessages` was not run after it was added."""
    in_catalogue = {e["msgid"] for e in _po_entries(CATALOGUE / "django.po") if e.get("msgid")}
    missing = sorted(s for s in _interface_strings() if s not in in_catalogue and "\\" not in s)
    assert missing == []


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
    receipts_issue_all_due()  # the acknowledgment follows the receipt
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
    receipts_issue_all_due()  # the acknowledgment follows the receipt
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


# --- Every main page in French: no internal code, no English ---------------------------------

# Internal values that are not words of either language: snake_case codes (status_changed,
# data_not_stored, emergency_disclosure, otp_totp), a raw ISO timestamp, and the one-word codes
# of statuses, event kinds, data categories and instruments that are English words but not French
# ones (the French pages say "Reçue", "Données relatives aux abonnés"...).
CODE_PATTERNS = {
    "snake_case code": re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b\.?"),
    "raw ISO date-time": re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|[+-]\d{2}:\d{2}\b"),
    # The order's language, shown after the heading "Langue" as "fr" instead of "Français".
    "language code": re.compile(r"\bLangue (?:[a-z]{2}|other)(?=\s+[A-Z])"),
    "one-word code": re.compile(
        r"\b(?:subscriber|traffic|submitted|responded|refused|withdrawn|closed|preserved|draft"
        r"|created|amendment|assigned|accepted|callback|epoc|inquiry|reviewer|auditor)\b"
    ),
}
# Short strings of the interface that French shares (or keeps) and that cannot betray a missing
# translation.
SAME_IN_FRENCH = {"Instrument", "Message", "Messages", "Documents", "Notes", "Code", "Total"}
# Common English words of a web interface, for text a template writes without marking it for
# translation (which the source's marked strings would not list).
COMMON_ENGLISH = {
    "Submit",
    "Save",
    "Cancel",
    "Back",
    "Delete",
    "Download",
    "Search",
    "Status",
    "Reference",
    "Received",
    "Deadline",
    "Overdue",
    "overdue",
    "Request",
    "Requests",
    "Account",
    "Log out",
    "Sign in",
    "Sign up",
    "Home",
    "Details",
    "Unknown",
    "left",
    "Yes",
    "None",
    "Name",
    "Actions",
    "Open",
    "Closed",
    "Submitted",
    "Draft",
    "Emergency",
    "Review",
    "Assigned",
    "Unassigned",
    "Timeline",
    "Send",
    "Change",
    "Show",
    "Hide",
    "Next",
    "Previous",
    "Language",
    "Time zone",
    "Passkeys",
    "Settings",
    "Password",
    "E-mail",
    "Filter",
    "Apply",
    "Today",
    "days",
    "hours",
}
SOURCE_DIRS = ("authorities", "requests_app", "portal")
_TEMPLATE_STRING = re.compile(r"\{%\s*(?:translate|trans)\s+(['\"])(.+?)\1")
# gettext("...") and _("...") with their literal, adjacent literals joined as Python joins them.
_PYTHON_STRING = re.compile(
    r"\b(?:_|gettext|gettext_lazy|gettext_noop)\(\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+)[,)]"
)
_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


class _VisibleText(HTMLParser):
    """What a reader sees or hears in French: text outside script and style and outside elements
    marked as in another language, and the attributes read out or shown (title, aria-label,
    placeholder, alt, and data-label, shown by CSS on a phone)."""

    SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-label")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        # Elements whose text is hidden, or in another language on purpose (the language
        # picker names each language in itself: "English").
        self._hidden_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        lang = dict(attrs).get("lang")
        if tag in ("script", "style", "template") or (tag != "html" and lang and lang != "fr"):
            self._hidden_tags.append(tag)
        self.parts += [value for name, value in attrs if name in self.SHOWN_ATTRIBUTES and value]
        if tag == "input" and dict(attrs).get("type") in ("submit", "button"):
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag):
        if self._hidden_tags and self._hidden_tags[-1] == tag:
            self._hidden_tags.pop()

    def handle_data(self, data):
        if not self._hidden_tags:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def _interface_strings() -> set[str]:
    """The English strings the code marks for translation (templates and Python), whether the
    catalogue has them yet or not: a string missing from it shows in English too."""
    root = Path(settings.BASE_DIR)
    found: set[str] = set()
    for template in (root / "templates").rglob("*.html"):
        found |= {match[1] for match in _TEMPLATE_STRING.findall(template.read_text())}
    for folder in SOURCE_DIRS:
        for module in (root / folder).rglob("*.py"):
            if "migrations" not in module.parts:
                found |= {
                    "".join(_LITERAL.findall(literals))
                    for literals in _PYTHON_STRING.findall(module.read_text())
                }
    return found


def english_strings() -> list[str]:
    """The interface's English strings that cannot appear on a French page: not the same in
    French, not a word the French translations use, long enough to mean something."""
    french_texts = " ".join(
        e.get("msgstr", "") for e in _po_entries(CATALOGUE / "django.po") if e.get("msgid")
    )
    kept = []
    for english in _interface_strings() | COMMON_ENGLISH:
        if len(english) < 4 or not re.search(r"[A-Za-z]{3}", english) or english in SAME_IN_FRENCH:
            continue
        if re.search(r"%\(|%s|\{|<|\\", english):
            continue
        with translation.override("fr"):
            if translation.gettext(english) == english and english in french_texts:
                continue
        if re.search(rf"(?<![\w-]){re.escape(english)}(?![\w-])", french_texts):
            continue
        kept.append(english)
    return sorted(kept, key=len, reverse=True)


def _inside_address(text: str, match: re.Match) -> bool:
    """A match that is part of an e-mail address, a URL or a time zone name (user data)."""
    before, after = text[: match.start()], text[match.end() :]
    return bool(re.search(r"[\w.@/-]$", before) or re.match(r"[@/-]|\.\w", after))


def leaks_in(text: str, english: list[str]) -> list[str]:
    def shown(match: re.Match) -> str:
        return repr(text[max(0, match.start() - 30) : match.end() + 30])

    found = [
        f"{name} {match.group(0)!r} in {shown(match)}"
        for name, pattern in CODE_PATTERNS.items()
        for match in pattern.finditer(text)
        if not _inside_address(text, match)
    ]
    for phrase in english:
        for match in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text):
            if not _inside_address(text, match):
                found.append(f"English {phrase!r} in {shown(match)}")
                break
    return sorted(set(found))


def test_main_pages_in_french_show_no_internal_code_and_no_english(
    officer, colleague, reviewer, lead, auditor, enforcer
):
    """Every page of tests/page_tour.py, read by users whose language is French: a page that
    shows a code (a data category, an event kind, a refusal ground), a raw ISO date or an
    English string of the interface fails, each listed with its page."""
    newcomer = OfficerFactory(authority=officer.authority, email="claire@interieur.gouv.fr")
    users = (officer, colleague, reviewer, lead, auditor, enforcer, newcomer)
    # Names of their own: a generated one can be an English word of the interface ("Justin
    # English" failed a clean run), and a name is shown as it is, in any language.
    names = ("Camille Moreau", "Louis Garnier", "Inès Faure", "Hugo Lambert", "Léa Rousseau",
             "Nora Girard", "Claire Bonnet")  # fmt: skip
    for user, name in zip(users, names, strict=True):
        user.preferred_language = "fr"
        user.full_name = name
        user.save(update_fields=["preferred_language", "full_name"])
    tour = build_tour(
        officer=officer,
        colleague=colleague,
        reviewer=reviewer,
        lead=lead,
        auditor=auditor,
        enforcer=enforcer,
        newcomer=newcomer,
    )
    english = english_strings()
    problems: dict[str, list[str]] = {}
    for entry in PAGES:
        client = french(client_for(tour, entry.who))
        html = page(client, entry.path(tour))
        assert '<html lang="fr">' in html, entry.name
        if found := leaks_in(visible_text(html), english):
            problems[entry.name] = found
    assert problems == {}, "\n".join(
        f"{name}:\n    " + "\n    ".join(found) for name, found in problems.items()
    )


def test_event_details_show_names_not_codes():
    """The record keeps a refusal's ground and the categories delivered as codes; the pages
    show their names in the reader's language."""
    from requests_app.models import RequestEvent
    from requests_app.templatetags.portal_requests import event_detail

    refused = RequestEvent(kind=RequestEvent.Kind.REFUSED, detail="data_not_stored: Purged.")
    delivered = RequestEvent(
        kind=RequestEvent.Kind.RESPONDED,
        detail="Categories delivered: subscriber, traffic. Two files.",
    )
    clarification = RequestEvent(
        kind=RequestEvent.Kind.CLOCK_STOPPED, detail="Clarification requested"
    )
    assert event_detail(refused, None) == "The data requested is not stored: Purged."
    assert event_detail(delivered, None) == (
        "Categories delivered: Subscriber data, Traffic data. Two files."
    )
    with translation.override("fr"):
        assert event_detail(refused, None).startswith("Les données demandées")
        assert "Données relatives aux abonnés" in event_detail(delivered, None)
        assert event_detail(clarification, None) == "Éclaircissement demandé"


@pytest.mark.parametrize(
    ("kind", "stored", "french"),
    [
        (
            "preserved",
            "Preserved until 2026-12-27 10:00 UTC",
            "Conservé jusqu'au 2026-12-27 10:00 UTC",
        ),
        (
            "preserved",
            "Preserved until the production order is answered",
            "Conservé jusqu'à la réponse à l'injonction de production",
        ),
        (
            "production_confirmed",
            "Production request: EPOC-2026-1",
            "Demande de production : EPOC-2026-1",
        ),
        ("created", "Copied from LR-2026-000001", "Copié depuis LR-2026-000001"),
    ],
)
def test_event_details_with_a_value_are_in_the_readers_language(kind, stored, french):
    from requests_app.models import RequestEvent
    from requests_app.templatetags.portal_requests import event_detail

    event = RequestEvent(kind=kind, detail=stored)
    assert event_detail(event, None) == stored
    with translation.override("fr"):
        assert event_detail(event, None) == french
