"""Who may do what to a request: the pages offer exactly what the services accept.

The grid: requests in every status, of each instrument whose actions differ (an EPOC, a
preservation order before, during and after its extension, an emergency before and after its
call-back and approval), seen by each role. For every cell, the action forms the page shows must
be the actions the services accept (each tried in a savepoint that is rolled back). A page that
offers what its service refuses, or hides what the service would do, is a mismatch."""

import itertools
import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from requests_app import lifecycle, services
from requests_app.models import (
    CallbackVerification,
    DisclosureApproval,
    LegalRequest,
    RequestEvent,
    Status,
)
from requests_app.review import services as review_services
from tests.conftest import passkey_login, verified_login

pytestmark = pytest.mark.django_db

SUBMITTED_STATUSES = [s for s in Status.values if s != Status.DRAFT]


class _Undo(Exception):
    """Raised inside a savepoint to roll back an action the service accepted."""


def _mismatch(cell: tuple, shown: set[str], calls: dict) -> tuple | None:
    """None if the page shows exactly the actions whose service accepts them; else what differs."""
    accepted = {name for name, act in calls.items() if _accepted(act)}
    if shown == accepted:
        return None
    return (
        *cell,
        f"shown, refused: {sorted(shown - accepted)}",
        f"accepted, not shown: {sorted(accepted - shown)}",
    )


def _accepted(act) -> bool:
    try:
        with transaction.atomic():
            act()
            raise _Undo
    except _Undo:
        return True
    except (PermissionDenied, ValidationError):
        return False


# --- Building requests in each state --------------------------------------------------------

# name: (instrument, emergency, extension asked, extension confirmed, call-back, lead approval)
SCENARIOS = {
    "epoc": (Instrument.EPOC, False, False, False, False, False),
    # Answered without a file: a removal confirmed, a written answer (test_answers.py).
    "tco removal": (Instrument.TCO_REMOVAL, False, False, False, False, False),
    "inquiry": (Instrument.INQUIRY, False, False, False, False, False),
    "preservation": (Instrument.EPOC_PR, False, False, False, False, False),
    "preservation, extension asked": (Instrument.EPOC_PR, False, True, False, False, False),
    "preservation, extension confirmed": (Instrument.EPOC_PR, False, True, True, False, False),
    "emergency": (Instrument.EMERGENCY_DISCLOSURE, True, False, False, False, False),
    "emergency, call-back confirmed": (
        Instrument.EMERGENCY_DISCLOSURE,
        True,
        False,
        False,
        True,
        False,
    ),
    "emergency, call-back and approval": (
        Instrument.EMERGENCY_DISCLOSURE,
        True,
        False,
        False,
        True,
        True,
    ),
}


# Distinct references for the rows built here (a random six-digit number collided once in the
# thousands a grid builds), above what the services' counter reaches in a test.
_references = itertools.count(500_000)


def build(scenario: str, status: str, *, officer, reviewer, lead) -> LegalRequest:
    instrument, emergency, asked, confirmed, callback, approved = SCENARIOS[scenario]
    now = timezone.now()
    submitted = status != Status.DRAFT
    legal_request = LegalRequest.objects.create(
        instrument=instrument,
        authority=officer.authority,
        officer=officer,
        status=status,
        reference=f"LR-2026-{next(_references):06d}" if submitted else None,
        received_at=now if submitted else None,
        due_at=now + timedelta(days=1) if submitted else None,
        is_emergency=emergency,
        case_reference="CASE-1",
        legal_basis="Art. 5",
        statement_of_reasons="Reasons.",
        preservation_until=(now + timedelta(days=60))
        if instrument == Instrument.EPOC_PR and submitted
        else None,
    )
    if asked:
        RequestEvent.objects.create(
            request=legal_request, kind=RequestEvent.Kind.PRESERVATION_EXTENSION, actor=officer
        )
    if confirmed:
        RequestEvent.objects.create(
            request=legal_request, kind=RequestEvent.Kind.EXTENSION_CONFIRMED, actor=reviewer
        )
    if callback:
        CallbackVerification.objects.create(
            request=legal_request,
            verified_by=reviewer,
            phone=officer.authority.callback_phone,
            outcome=CallbackVerification.Outcome.CONFIRMED,
        )
    if approved:
        DisclosureApproval.objects.create(request=legal_request, approved_by=lead)
    return legal_request


def fresh(legal_request: LegalRequest) -> LegalRequest:
    return LegalRequest.objects.select_related("authority", "officer").get(pk=legal_request.pk)


# --- The legal team's page and services -----------------------------------------------------

# A one-click action posts to its URL; an action with a form is a link that opens it.
ACTION_URL = re.compile(r"/review/[0-9a-f-]{36}/(?:actions/([a-z_]+)/|\?action=([a-z_]+))")


def review_actions(user, legal_request: LegalRequest, device_id: str) -> dict:
    """Each review action called with valid input, as its form would send it."""
    return {
        "assign": lambda: review_services.legal_request_assign(
            actor=user, legal_request=legal_request, assignee=user
        ),
        "accept": lambda: review_services.legal_request_accept(
            reviewer=user, legal_request=legal_request
        ),
        "clarify": lambda: review_services.legal_request_ask_clarification(
            reviewer=user, legal_request=legal_request, question="Which account exactly?"
        ),
        "refuse": lambda: review_services.legal_request_refuse(
            reviewer=user,
            legal_request=legal_request,
            ground="other",
            explanation="Outside our service.",
        ),
        "respond": lambda: review_services.legal_request_respond(
            reviewer=user,
            legal_request=legal_request,
            files=[SimpleUploadedFile("export.csv", b"account,ip\n", "text/csv")],
        ),
        "confirm_removal": lambda: review_services.legal_request_confirm_removal(
            reviewer=user, legal_request=legal_request, removed_at=timezone.now()
        ),
        "answer": lambda: review_services.legal_request_answer(
            reviewer=user, legal_request=legal_request, answer="We keep it for 90 days."
        ),
        "message_officer": lambda: review_services.message_post_by_platform(
            reviewer=user, legal_request=legal_request, body="Working on it."
        ),
        "preserve": lambda: review_services.legal_request_confirm_preservation(
            reviewer=user, legal_request=legal_request
        ),
        "confirm_extension": lambda: review_services.legal_request_confirm_extension(
            reviewer=user, legal_request=legal_request
        ),
        "close": lambda: review_services.legal_request_close(
            reviewer=user, legal_request=legal_request
        ),
        "callback": lambda: review_services.callback_record(
            reviewer=user,
            legal_request=legal_request,
            outcome=CallbackVerification.Outcome.CONFIRMED,
        ),
        "approve": lambda: review_services.disclosure_approve(
            lead=user, legal_request=legal_request, device_id=device_id
        ),
        "legal_hold": lambda: review_services.legal_hold_set(
            lead=user, legal_request=legal_request, reason="Court order to keep the data."
        ),
        "legal_hold_release": lambda: review_services.legal_hold_release(
            lead=user, legal_request=legal_request
        ),
    }


def review_grid(client, roles: dict, reviewer, lead, scenarios=SCENARIOS) -> tuple[int, list]:
    """Every scenario x status x legal-team role: (cells, mismatches). The reviewer and the
    lead build the scenarios (call-backs, approvals) whichever role is looking."""
    from django_otp_webauthn.models import WebAuthnCredential

    officer = roles.pop("_officer")
    cells, mismatches = 0, []
    for role, user in roles.items():
        passkey_login(client, user)  # the session may approve, so only the request's state counts
        device_id = WebAuthnCredential.objects.get(user=user).persistent_id
        for scenario in scenarios:
            for status in SUBMITTED_STATUSES:
                legal_request = build(
                    scenario, status, officer=officer, reviewer=reviewer, lead=lead
                )
                response = client.get(reverse("review:detail", args=[legal_request.public_id]))
                assert response.status_code == 200, (role, scenario, status)
                shown = {a or b for a, b in ACTION_URL.findall(response.content.decode())}
                calls = review_actions(user, fresh(legal_request), device_id)
                cells += 1
                if mismatch := _mismatch((role, scenario, status), shown, calls):
                    mismatches.append(mismatch)
    return cells, mismatches


# One test per legal-team role and half of the scenarios, so that parallel workers share the grid.
HALVES = {"first": list(SCENARIOS)[::2], "second": list(SCENARIOS)[1::2]}


@pytest.mark.parametrize("half", HALVES)
@pytest.mark.parametrize("role", ["reviewer", "lead", "auditor"])
def test_review_page_offers_exactly_the_actions_the_services_accept(
    role, half, client, officer, reviewer, lead, auditor, capsys
):
    users = {"reviewer": reviewer, "lead": lead, "auditor": auditor}
    cells, mismatches = review_grid(
        client, {"_officer": officer, role: users[role]}, reviewer, lead, HALVES[half]
    )
    with capsys.disabled():
        print(
            f"\nreview page x services ({role}, {half} half of the scenarios): {cells} cells, "
            f"{len(mismatches)} mismatches"
        )
    assert mismatches == [], "\n".join(map(str, mismatches))


# --- The authority's page and services ------------------------------------------------------

PRESERVATION_ACTION = re.compile(r'name="action" value="(extend|production)"')


def officer_page_actions(page: str, legal_request: LegalRequest) -> set[str]:
    shown = set(PRESERVATION_ACTION.findall(page))
    for name in ("message", "withdraw"):
        if reverse(f"requests:{name}", args=[legal_request.public_id]) in page:
            shown.add(name)
    if reverse("requests:edit", args=[legal_request.public_id]) in page:
        shown.add("edit")
    if reverse("requests:copy", args=[legal_request.public_id]) in page:
        shown.add("copy")
    return shown


def officer_services(user, legal_request: LegalRequest) -> dict:
    return {
        "edit": lambda: services.legal_request_save_draft(
            officer=user,
            instrument=legal_request.instrument,
            data={},
            targets=[],
            legal_request=legal_request,
        ),
        "message": lambda: services.message_post_by_officer(
            officer=user, legal_request=legal_request, body="More detail."
        ),
        "withdraw": lambda: services.legal_request_withdraw(
            officer=user, legal_request=legal_request, reason="Case closed."
        ),
        "extend": lambda: services.preservation_extend(officer=user, legal_request=legal_request),
        "production": lambda: services.preservation_confirm_production(
            officer=user, legal_request=legal_request, production_reference="EPOC-2026-1"
        ),
        "copy": lambda: services.legal_request_copy(officer=user, legal_request=legal_request),
    }


# One test per reader, so that parallel workers share the grid.
@pytest.mark.parametrize(
    ("reader", "shared"), [("officer", False), ("colleague", False), ("colleague", True)]
)
def test_officer_page_offers_exactly_the_actions_the_services_accept(
    reader, shared, client, officer, colleague, reviewer, lead, capsys
):
    """The officer who drafted each request, or a colleague at the same authority, while the
    authority keeps each officer's requests to that officer, or while colleagues share them. A
    request the page does not show (404) must accept no action either."""
    user = {"officer": officer, "colleague": colleague}[reader]
    authority = officer.authority
    authority.colleagues_see_requests = shared
    authority.save(update_fields=["colleagues_see_requests"])
    verified_login(client, user)
    cells, mismatches = 0, []
    for scenario in ("epoc", "preservation", "preservation, extension asked"):
        for status in Status.values:
            legal_request = build(scenario, status, officer=officer, reviewer=reviewer, lead=lead)
            response = client.get(reverse("requests:detail", args=[legal_request.public_id]))
            assert response.status_code in (200, 404)
            shown = (
                officer_page_actions(response.content.decode(), legal_request)
                if response.status_code == 200
                else set()
            )
            user.refresh_from_db()
            calls = officer_services(user, fresh(legal_request))
            cells += 1
            if mismatch := _mismatch((reader, shared, scenario, status), shown, calls):
                mismatches.append(mismatch)
    with capsys.disabled():
        print(
            f"\nofficer page x services ({reader}, shared={shared}): {cells} cells, "
            f"{len(mismatches)} mismatches"
        )
    assert mismatches == [], "\n".join(map(str, mismatches))


# --- The policy module itself ---------------------------------------------------------------

# The table in words: what each role may do. A change of ROLE_CAPABILITIES must change this.
EXPECTED_CAPABILITIES = {
    "officer": {"submit", "follow"},
    "reviewer": {"view_queue", "view_request", "review", "assign"},
    "lead": {
        "view_queue",
        "view_request",
        "view_audit",
        "view_dashboard",
        "review",
        "assign",
        "assign_others",
        "approve_disclosure",
        "hold_files",
    },
    "auditor": {"view_queue", "view_request", "view_dashboard", "view_audit"},
    "enforcer": {"enforce"},
}


def test_each_role_has_the_capabilities_of_the_table(
    officer, reviewer, lead, auditor, staff, enforcer
):
    from requests_app import policies, roles

    assert {
        role: {c.value for c in caps} for role, caps in policies.ROLE_CAPABILITIES.items()
    } == EXPECTED_CAPABILITIES
    assert set(policies.ROLE_CAPABILITIES) == {
        roles.OFFICER,
        roles.ENFORCER,
        *roles.PLATFORM_ROLES,
    }
    users = {"officer": officer, "reviewer": reviewer, "lead": lead, "auditor": auditor}
    for role, user in users.items():
        assert {c.value for c in policies.capabilities_of(user)} == EXPECTED_CAPABILITIES[role]
    # An enforcing authority's officer is an officer too (the same sign-up and registry check).
    assert {c.value for c in policies.capabilities_of(enforcer)} == (
        EXPECTED_CAPABILITIES["officer"] | EXPECTED_CAPABILITIES["enforcer"]
    )
    # Staff administer the registry in the admin; they hold no role over requests.
    assert policies.capabilities_of(staff) == frozenset()


def test_a_platform_account_awaiting_reinstatement_has_no_capability(reviewer, staff):
    from requests_app import policies

    reviewer.second_factor_reset_by = staff
    reviewer.save(update_fields=["second_factor_reset_by"])
    assert policies.capabilities_of(reviewer) == frozenset()


def test_views_follow_the_capability_table_not_the_role(client, reviewer, monkeypatch):
    """Give reviewers the dashboard in the table alone: the page opens for them, no view edited."""
    from requests_app import policies

    verified_login(client, reviewer)
    assert client.get(reverse("review:dashboard")).status_code == 404
    table = dict(policies.ROLE_CAPABILITIES)
    table["reviewer"] = table["reviewer"] | {policies.Capability.VIEW_DASHBOARD}
    monkeypatch.setattr(policies, "ROLE_CAPABILITIES", table)
    page = client.get(reverse("review:dashboard"))
    assert page.status_code == 200
    assert reverse("review:dashboard") in client.get(reverse("home")).content.decode()


def test_every_review_action_has_a_rule_and_every_rule_a_capability():
    from requests_app import policies
    from requests_app.review.views import ACTIONS

    assert set(ACTIONS) <= set(policies.RULES)
    assert all(isinstance(r.capability, policies.Capability) for r in policies.RULES.values())


def test_a_refusal_says_why_and_the_service_raises_the_same(officer, reviewer, lead):
    from requests_app import policies

    legal_request = build(
        "preservation", Status.PRESERVED, officer=officer, reviewer=reviewer, lead=lead
    )
    decision = policies.decide(reviewer, "confirm_extension", legal_request)
    assert not decision and not decision.forbidden
    assert decision.reason == "There is no extension waiting for confirmation."
    with pytest.raises(lifecycle.TransitionError, match="no extension waiting"):
        review_services.legal_request_confirm_extension(
            reviewer=reviewer, legal_request=legal_request
        )

    emergency = build("emergency", Status.IN_REVIEW, officer=officer, reviewer=reviewer, lead=lead)
    decision = policies.decide(reviewer, "approve", emergency)
    assert decision.forbidden and "Only a lead" in decision.reason
    with pytest.raises(PermissionDenied, match="Only a lead"):
        review_services.disclosure_approve(lead=reviewer, legal_request=emergency)
    decision = policies.decide(lead, "approve", emergency)
    assert not decision.forbidden and "confirmed call-back" in decision.reason


def test_reviewer_is_offered_only_themselves_as_assignee(client, officer, reviewer, lead):
    legal_request = build("epoc", Status.SUBMITTED, officer=officer, reviewer=reviewer, lead=lead)
    pattern = re.compile(r'<option value="(\d+)"')
    url = reverse("review:detail", args=[legal_request.public_id]) + "?action=assign"
    verified_login(client, reviewer)
    page = client.get(url).content.decode()
    assert set(pattern.findall(page)) == {str(reviewer.pk)}
    verified_login(client, lead)
    page = client.get(url).content.decode()
    assert set(pattern.findall(page)) == {str(reviewer.pk), str(lead.pk)}


def test_a_post_for_an_action_the_role_never_has_is_403(client, officer, reviewer, lead):
    emergency = build("emergency", Status.IN_REVIEW, officer=officer, reviewer=reviewer, lead=lead)
    passkey_login(client, reviewer)
    url = reverse("review:action", args=[emergency.public_id, "approve"])
    assert client.post(url, {"otp_token": "123456"}).status_code == 403
    assert not emergency.approvals.exists()


@pytest.mark.parametrize(
    ("email", "belongs"),
    [
        ("marie@interieur.gouv.fr", True),
        ("marie@police.interieur.gouv.fr", True),  # a subdomain of the registry's domain
        ("MARIE@INTERIEUR.GOUV.FR", True),
        ("marie@xinterieur.gouv.fr", False),
        ("jonas@bka.bund.de", False),  # another authority's domain
        ("marie@gmail.com", False),
        ("not an address", False),
    ],
)
def test_an_address_belongs_to_an_authority_only_through_its_registry_domains(
    authority, other_authority, email, belongs
):
    from authorities.selectors import address_belongs_to

    assert address_belongs_to(email, authority.pk) is belongs


def test_an_address_of_a_suspended_authority_belongs_to_it_no_more(authority):
    from authorities.constants import AuthorityStatus
    from authorities.selectors import address_belongs_to

    assert address_belongs_to("marie@interieur.gouv.fr", authority.pk)
    authority.status = AuthorityStatus.SUSPENDED
    authority.save(update_fields=["status"])
    assert not address_belongs_to("marie@interieur.gouv.fr", authority.pk)
    assert not address_belongs_to("marie@interieur.gouv.fr", None)


# --- The auditor: reads everything, changes nothing -----------------------------------------


def test_auditor_reads_every_legal_team_page_and_changes_nothing(
    client, officer, reviewer, lead, auditor
):
    legal_request = build(
        "emergency", Status.IN_REVIEW, officer=officer, reviewer=reviewer, lead=lead
    )
    verified_login(client, officer)
    client.post(
        reverse("requests:message", args=[legal_request.public_id]), {"body": "Annex", "files": []}
    )
    passkey_login(client, auditor)
    reads = [
        reverse("review:queue"),
        reverse("review:detail", args=[legal_request.public_id]),
        reverse("review:dashboard"),
        reverse("review:report_csv"),
        reverse("review:access_log"),
    ]
    assert [client.get(url).status_code for url in reads] == [200] * len(reads)
    home = client.get(reverse("home")).content.decode()
    assert all(url in home for url in reads[:1] + reads[2:3])  # the navigation links them
    before = (
        legal_request.status,
        legal_request.events.count(),
        legal_request.callbacks.count(),
        legal_request.approvals.count(),
    )
    refused = {
        name: client.post(
            reverse("review:action", args=[legal_request.public_id, name])
        ).status_code
        for name in review_actions(auditor, legal_request, "")
    }
    assert refused == dict.fromkeys(refused, 403)
    legal_request.refresh_from_db()
    after = (
        legal_request.status,
        legal_request.events.count(),
        legal_request.callbacks.count(),
        legal_request.approvals.count(),
    )
    assert after == before
    for act in review_actions(auditor, fresh(legal_request), "").values():
        with pytest.raises(PermissionDenied):
            act()
    # Not an assignee either: assignment is for those who review.
    with pytest.raises(ValidationError):
        review_services.legal_request_assign(
            actor=lead, legal_request=fresh(legal_request), assignee=auditor
        )


def test_staff_give_the_auditor_role_in_the_admin(client, staff):
    """The role is a group the migration creates; staff pick it in the user's Platform roles."""
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    member = UserFactory(email="compliance@platform.example")
    # The migration's row, or the same row again where a transactional test flushed the tables
    # before this one (make check keeps its databases: --reuse-db), as the role fixtures do.
    group = Group.objects.get_or_create(name="auditor")[0]
    passkey_login(client, staff)
    url = reverse("admin:authorities_user_change", args=[member.pk])
    page = client.get(url).content.decode()
    assert f'<option value="{group.pk}">auditor</option>' in page
