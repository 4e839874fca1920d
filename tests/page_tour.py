"""The main pages of the portal, in one list, for the checks that go over all of them: the phone
width and axe-core in a real browser (tests/browser/test_pages.py) and the French interface
(tests/portal/test_i18n.py). A new page is one more line in PAGES; the requests it needs are
built once by `build_tour`, through the pages and the services, as users would make them.

The data is chosen to stretch a narrow screen: a long URL and an unbroken word in the targets,
the messages and a produced file's name."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from authorities.constants import Instrument
from authorities.models import User
from requests_app.models import LegalRequest, Notification
from requests_app.receipts import receipts_issue_all_due
from requests_app.review import services as review_services
from requests_app.services import message_post_by_officer
from tests.conftest import CommittingClient, passkey_login, verified_login
from tests.requests_app.helpers import VALID, submit

LONG_URL = (
    "https://platform.example/users/kidnapper.account/posts/"
    "1234567890123456789/comments?thread=abcdefghijklmnopqrstuvwxyz0123456789&ref=share"
)
LONG_WORD = "Rechtshilfeersuchen" * 4
# Officers' own words are in French here: the French tour (tests/portal/test_i18n.py) then finds
# no English that is not the interface's.
STATEMENT = "Le compte sert à organiser l'infraction sur laquelle porte l'enquête."
LONG_FILE_NAME = "donnees-abonne-et-trafic-du-compte-kidnapper-du-2026-11-01-au-2026-11-26.csv"


@dataclass
class Tour:
    users: dict[str, User]
    requests: dict[str, LegalRequest] = field(default_factory=dict)

    def detail(self, name: str) -> str:
        return reverse("requests:detail", args=[self.requests[name].public_id])

    def review(self, name: str) -> str:
        return reverse("review:detail", args=[self.requests[name].public_id])


@dataclass(frozen=True)
class Page:
    name: str
    # Whose session opens it: "public" (none), a key of Tour.users, or "officer-password-only"
    # (the login's second step) and "newcomer" (no second factor yet: the set-up page).
    who: str
    path: Callable[[Tour], str]
    # The name of its phone-width screenshot in docs/screenshots/phone/, for the main pages.
    screenshot: str | None = None


def _url(name: str, *args) -> Callable[[Tour], str]:
    return lambda tour: reverse(name, args=args)


PAGES: list[Page] = [
    # Before login.
    Page("landing", "public", _url("landing"), "01-landing"),
    Page("login", "public", _url("authorities:login"), "02-login"),
    Page("signup", "public", _url("authorities:signup")),
    Page("password reset", "public", _url("authorities:password_reset")),
    Page("second factor", "officer-password-only", _url("authorities:otp")),
    Page("second factor setup", "newcomer", _url("authorities:enrol")),
    # The officer.
    Page("officer home", "officer", _url("home"), "03-officer-home"),
    Page("new request", "officer", _url("requests:new"), "04-new-request"),
    Page("request form (EPOC)", "officer", _url("requests:create", "epoc"), "05-request-form"),
    Page("request form (emergency)", "officer", _url("requests:create", "emergency_disclosure")),
    Page("request form (inquiry)", "officer", _url("requests:create", "inquiry")),
    Page(
        "draft", "officer", lambda t: reverse("requests:edit", args=[t.requests["draft"].public_id])
    ),
    Page("request list", "officer", _url("requests:list"), "06-request-list"),
    Page("request detail", "officer", lambda t: t.detail("open"), "07-request-detail"),
    Page("request detail (responded)", "officer", lambda t: t.detail("responded")),
    Page("request detail (refused)", "officer", lambda t: t.detail("refused")),
    Page(
        "refusal notice",
        "officer",
        lambda t: reverse("requests:notice", args=[t.requests["refused"].public_id]),
    ),
    Page("request detail (emergency)", "officer", lambda t: t.detail("emergency")),
    Page("account", "officer", _url("authorities:account"), "08-account"),
    Page("passkeys", "officer", _url("authorities:passkeys")),
    Page("authority's officers", "officer", _url("authorities:officers")),
    # The legal team.
    Page("review queue", "reviewer", _url("review:queue"), "09-review-queue"),
    Page("review detail", "reviewer", lambda t: t.review("open"), "10-review-detail"),
    Page("review detail (emergency)", "reviewer", lambda t: t.review("emergency")),
    Page("review detail (enforcing)", "reviewer", lambda t: t.review("enforced")),
    Page("review detail (responded)", "reviewer", lambda t: t.review("responded")),
    Page("reviewer home", "reviewer", _url("home")),
    Page("lead dashboard", "lead", _url("review:dashboard"), "11-lead-dashboard"),
    Page("access log", "lead", _url("review:access_log")),
    Page("auditor queue", "auditor", _url("review:queue")),
    Page("auditor dashboard", "auditor", _url("review:dashboard")),
    Page("auditor access log", "auditor", _url("review:access_log")),
    Page("auditor review detail", "auditor", lambda t: t.review("refused")),
    # The enforcing authority (e-Evidence Art. 8).
    Page("enforcing orders", "enforcer", _url("enforcing:list")),
    Page(
        "enforcing order",
        "enforcer",
        lambda t: reverse("enforcing:detail", args=[t.requests["enforced"].public_id]),
        "12-enforcing-order",
    ),
]


def client_for(tour: Tour, who: str) -> CommittingClient:
    """A test client with the session of `who` (see Page.who)."""
    client = CommittingClient()
    if who == "public":
        return client
    if who == "officer-password-only":
        client.force_login(tour.users["officer"])
    elif who == "newcomer":
        client.force_login(tour.users["newcomer"])
    elif who == "officer":
        # A passkey-verified session, as the emergency form asks for one.
        passkey_login(client, tour.users["officer"])
    else:
        verified_login(client, tour.users[who])
    return client


def _form_errors(response) -> str:
    html = response.content.decode()
    main = html[html.find("<main") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))[:3000]


def _submitted(client, instrument: str, data: dict, name: str) -> LegalRequest:
    response = submit(client, instrument, data)
    assert response.status_code == 302, _form_errors(response)
    receipts_issue_all_due()  # the worker seals the receipt and queues the acknowledgment
    return LegalRequest.objects.get(case_reference=name)


def build_tour(
    *,
    officer: User,
    colleague: User,
    reviewer: User,
    lead: User,
    auditor: User,
    enforcer: User,
    newcomer: User,
) -> Tour:
    """The requests the pages show: one in review after a clarification, one responded, one
    refused, an emergency, one notified to the enforcing authority, and a draft."""
    officer.is_authority_contact = True
    officer.save(update_fields=["is_authority_contact"])
    tour = Tour(
        users={
            "officer": officer,
            "colleague": colleague,
            "reviewer": reviewer,
            "lead": lead,
            "auditor": auditor,
            "enforcer": enforcer,
            "newcomer": newcomer,
        }
    )
    client = passkey_login(CommittingClient(), officer)
    epoc = VALID[Instrument.EPOC]

    def epoc_named(name: str, **extra) -> dict:
        return {**epoc, "case_reference": name, "statement_of_reasons": STATEMENT, **extra}

    long_targets = f"{LONG_URL}\n@kidnapper.account"
    open_request = _submitted(
        client,
        Instrument.EPOC,
        epoc_named(
            "OFAC-2026-OPEN",
            targets=long_targets,
            statement_of_reasons=f"Le compte a publié {LONG_URL} ({LONG_WORD}).",
        ),
        "OFAC-2026-OPEN",
    )
    review_services.legal_request_accept(reviewer=reviewer, legal_request=open_request)
    review_services.legal_request_ask_clarification(
        reviewer=reviewer,
        legal_request=open_request,
        question=f"Est-ce que {LONG_URL} est la seule publication du compte ?",
    )
    message_post_by_officer(
        officer=officer,
        legal_request=LegalRequest.objects.get(pk=open_request.pk),
        body=f"Oui : {LONG_URL} et {LONG_WORD}.",
    )
    tour.requests["open"] = open_request
    # An acknowledgment the mail server keeps refusing: the leads' dashboard lists it.
    Notification.objects.filter(request=open_request, template="request_received").update(
        state=Notification.State.FAILED,
        attempts=6,
        last_error="451 4.7.1 mail.interieur.gouv.fr: greylisted, try again later",
    )

    responded = _submitted(
        client,
        Instrument.EPOC,
        epoc_named("OFAC-2026-DONE", targets=long_targets),
        "OFAC-2026-DONE",
    )
    review_services.legal_request_accept(reviewer=reviewer, legal_request=responded)
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=LegalRequest.objects.get(pk=responded.pk),
        files=[SimpleUploadedFile(LONG_FILE_NAME, b"account,ip\nkidnapper.account,192.0.2.7\n")],
        partial=True,
        note=f"Les données de trafic s'arrêtent le 20 novembre : {LONG_WORD}.",
    )
    tour.requests["responded"] = responded

    refused = _submitted(
        client,
        Instrument.INQUIRY,
        {
            **VALID[Instrument.INQUIRY],
            "case_reference": "OFAC-2026-NO",
            "statement_of_reasons": "Combien de temps gardez-vous les comptes supprimés ?",
        },
        "OFAC-2026-NO",
    )
    review_services.legal_request_refuse(
        reviewer=reviewer,
        legal_request=refused,
        ground="data_not_stored",
        explanation=f"Les comptes supprimés sont effacés après 30 jours ({LONG_URL}).",
    )
    tour.requests["refused"] = refused

    tour.requests["emergency"] = _submitted(
        client,
        Instrument.EMERGENCY_DISCLOSURE,
        {
            **VALID[Instrument.EMERGENCY_DISCLOSURE],
            "targets": long_targets,
            "statement_of_reasons": "Un utilisateur annonce une attaque contre une école demain.",
            "emergency_justification": "Menace imminente pour la vie des élèves.",
        },
        VALID[Instrument.EMERGENCY_DISCLOSURE]["case_reference"],
    )

    tour.requests["enforced"] = _submitted(
        client,
        Instrument.EPOC,
        epoc_named(
            "OFAC-2026-ENF",
            targets=long_targets,
            threshold_met="on",
            data_categories=["subscriber", "traffic", "content"],
            validating_authority="Juge d'instruction, Tribunal judiciaire de Paris",
            enforcing_notified="on",
            enforcing_authority=enforcer.authority_id,
        ),
        "OFAC-2026-ENF",
    )

    response = submit(client, Instrument.EPOC, epoc_named("OFAC-2026-DRAFT"), action="draft")
    assert response.status_code == 302, _form_errors(response)
    tour.requests["draft"] = LegalRequest.objects.get(case_reference="OFAC-2026-DRAFT")
    return tour
