"""Who may do what to a legal request, now, and if not, why: each rule written once.

1. Roles (requests_app.roles) map to capabilities in ROLE_CAPABILITIES, the one table to edit
   when a role is added or changes.
2. Each action on a request is a capability plus a rule about the request as it is now (RULES).
   `decide(user, action, legal_request)` answers with a Decision: allowed, or refused with the
   reason to show.
3. Everyone asks here: view decorators (`capability_required`), the pages (what to offer, from
   `offered`), the services' guards (`check`, which raises what the pages would have said), and
   the API. So a page cannot offer what its service refuses (tests/requests_app/test_policies.py
   holds the pages against the services for every status, instrument and role).
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.translation import gettext

from authorities.selectors import officer_block_reason
from portal.access import only_for

from . import instruments, lifecycle, roles
from .ex_post_validation import ValidationState, validation_state
from .holds import hold_text
from .models import OPEN_STATUSES, CallbackVerification, LegalRequest, RequestEvent, Status
from .preservation import PreservationState, preservation_state


class Capability(StrEnum):
    # The authority's side.
    SUBMIT = "submit"  # draft and submit requests for one's authority
    FOLLOW = "follow"  # see one's authority's requests and act on them (message, withdraw...)
    # The platform: reading.
    VIEW_QUEUE = "view_queue"
    VIEW_REQUEST = "view_request"  # any submitted request, its documents and internal history
    VIEW_DASHBOARD = "view_dashboard"  # the figures, the failing alerts, the transparency report
    VIEW_AUDIT = "view_audit"  # the access log: who saw which request, opened, downloaded
    # The platform: acting.
    REVIEW = "review"  # accept, clarify, refuse, respond, preserve, close, record a call-back
    ASSIGN = "assign"  # take a request, or leave it unassigned
    ASSIGN_OTHERS = "assign_others"
    APPROVE_DISCLOSURE = "approve_disclosure"  # the second pair of eyes on an emergency
    HOLD_FILES = "hold_files"  # a legal hold: the request's files kept past their retention
    # The enforcing authority (e-Evidence Art. 8, 12): read the orders naming one's authority,
    # confirm no ground for refusal or raise grounds.
    ENFORCE = "enforce"


C = Capability
_REVIEWER = frozenset({C.VIEW_QUEUE, C.VIEW_REQUEST, C.REVIEW, C.ASSIGN})

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    roles.OFFICER: frozenset({C.SUBMIT, C.FOLLOW}),
    roles.REVIEWER: _REVIEWER,
    roles.LEAD: _REVIEWER
    | {C.VIEW_DASHBOARD, C.VIEW_AUDIT, C.ASSIGN_OTHERS, C.APPROVE_DISCLOSURE, C.HOLD_FILES},
    roles.AUDITOR: frozenset({C.VIEW_QUEUE, C.VIEW_REQUEST, C.VIEW_DASHBOARD, C.VIEW_AUDIT}),
    roles.ENFORCER: frozenset({C.ENFORCE}),
}


def capabilities_of(user) -> frozenset[Capability]:
    held = roles.roles_of(user)
    # A page asks once per action it offers (the review page, 20 times a view): each set of
    # roles' union is kept with the table it came from, and used while that is the table.
    table, union = _UNIONS.get(held, (None, None))
    if table is not ROLE_CAPABILITIES:
        table, union = _UNIONS[held] = (
            ROLE_CAPABILITIES,
            frozenset().union(*(ROLE_CAPABILITIES[role] for role in held)),
        )
    return union


_UNIONS: dict[frozenset[str], tuple[dict, frozenset[Capability]]] = {}


def has(user, capability: Capability) -> bool:
    return capability in capabilities_of(user)


def roles_with(capability: Capability) -> list[str]:
    """The roles (and so the groups) that grant a capability: whom to list as assignees."""
    return sorted(role for role, caps in ROLE_CAPABILITIES.items() if capability in caps)


def capability_required(capability: Capability):
    """A view for the users with this capability; to anyone else it does not exist (404)."""
    return only_for(lambda user: has(user, capability))


# Why a user without the capability may not act: what the page or the API says.
def _missing(capability: Capability) -> str:
    if capability == C.APPROVE_DISCLOSURE:
        return gettext("Only a lead approves an emergency disclosure.")
    if capability == C.ASSIGN_OTHERS:
        return gettext("Only a lead assigns requests to someone else.")
    if capability in (C.SUBMIT, C.FOLLOW):
        return gettext("Only officers of competent authorities submit requests.")
    if capability == C.ENFORCE:
        return gettext("Only the enforcing authority named in the order may do this.")
    return gettext("Only the platform's legal team may do this.")


# --- Decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    # Refused because of who asks (their role, their authority), whatever the request's state:
    # services raise PermissionDenied for these and TransitionError for the others.
    forbidden: bool = False

    def __bool__(self) -> bool:
        return self.allowed

    def raise_if_refused(self) -> None:
        if self.allowed:
            return
        if self.forbidden:
            raise PermissionDenied(self.reason)
        raise lifecycle.TransitionError(self.reason)


ALLOWED = Decision(True)


def _not_now(reason: str) -> Decision:
    return Decision(False, reason)


def _forbidden(reason: str) -> Decision:
    return Decision(False, reason, forbidden=True)


def _may_become(legal_request: LegalRequest, to: str) -> Decision:
    refusal = lifecycle.transition_refusal(legal_request.status, to)
    return _not_now(refusal) if refusal else ALLOWED


def _first_refusal(*checks: Callable[[], Decision]) -> Decision:
    # Lazily, in order: a later check may query the database, an earlier one never does.
    for check in checks:
        decision = check()
        if not decision:
            return decision
    return ALLOWED


# --- The legal team's actions -----------------------------------------------------------------


def emergency_disclosure_problems(legal_request: LegalRequest, responder) -> list[str]:
    """Why produced data may not go out yet for an emergency request: a confirmed call-back to
    the registry's number, and a lead's approval by someone other than the responder."""
    if not legal_request.is_emergency:
        return []
    problems = []
    if not _callback_confirmed(legal_request):
        problems.append(
            gettext(
                "Call the authority back on the registry's number and record a confirmed "
                "call-back before any emergency disclosure."
            )
        )
    if not legal_request.approvals.exclude(approved_by=responder).exists():
        problems.append(
            gettext(
                "An emergency disclosure needs the approval of a lead other than the person who "
                "sends it (second pair of eyes)."
            )
        )
    return problems


def _callback_confirmed(legal_request: LegalRequest) -> bool:
    latest = legal_request.callbacks.order_by("-at").first()
    return latest is not None and latest.outcome == CallbackVerification.Outcome.CONFIRMED


def _assign(user, legal_request: LegalRequest) -> Decision:
    if legal_request.status in (Status.CLOSED, Status.DRAFT):
        return _not_now(gettext("A closed request is not assigned."))
    return ALLOWED


def _accept(user, legal_request: LegalRequest) -> Decision:
    # IN_REVIEW also follows a clarification, but only the authority's answer gets it there
    # (it restarts the clock); a reviewer accepts what has just arrived.
    if legal_request.status != Status.SUBMITTED:
        return _not_now(gettext("Only a request just received is accepted for review."))
    return _may_become(legal_request, Status.IN_REVIEW)


def _answered_by(legal_request: LegalRequest, answer: str) -> Decision:
    """Is this instrument answered this way (instruments.InstrumentRule.answers)? If not, the
    page says how it is answered instead."""
    # .get: a request whose instrument the table no longer knows still gets its page (a refusal).
    rule = instruments.RULES.get(legal_request.instrument)
    if rule is not None and answer in rule.answers:
        return ALLOWED
    if rule is None:
        return _not_now(gettext("This instrument is not in the rule table: it cannot be answered."))
    how = {
        instruments.Answer.PRODUCED_DATA: gettext("with produced data"),
        instruments.Answer.REMOVAL: gettext("by confirming the removal or disabling of access"),
        instruments.Answer.TEXT: gettext("with a written answer"),
    }
    return _not_now(
        gettext("%(instrument)s is not answered %(this)s but %(how)s.")
        % {
            "instrument": rule.label,
            "this": how[answer],
            "how": ", ".join(how[a] for a in sorted(rule.answers)),
        }
    )


def _respond(user, legal_request: LegalRequest) -> Decision:
    def disclosure() -> Decision:
        problems = emergency_disclosure_problems(legal_request, user)
        return _forbidden(" ".join(problems)) if problems else ALLOWED

    return _first_refusal(
        lambda: _answered_by(legal_request, instruments.Answer.PRODUCED_DATA),
        lambda: _may_become(legal_request, Status.RESPONDED),
        lambda: _validation_not_failed_for(legal_request),
        lambda: _not_held(legal_request),
        disclosure,
    )


def _validation_not_failed_for(legal_request: LegalRequest) -> Decision:
    validation = validation_state(legal_request, timezone.now())
    if validation is not None and validation.failed:
        return _not_now(
            gettext(
                "The ex post validation of this emergency order was refused or not given within "
                "48 hours (e-Evidence Art. 4(5)): no data may be produced, and the data "
                "produced are to be deleted."
            )
        )
    return ALLOWED


def _not_held(legal_request: LegalRequest) -> Decision:
    """e-Evidence Art. 10(2): no data before the enforcing authority's window ends."""
    held = hold_text(legal_request)
    if not held:
        return ALLOWED
    return _not_now(
        gettext(
            "%(hold)s: no data may be transmitted before then, unless it confirms earlier that "
            "it raises no ground for refusal (e-Evidence Regulation Art. 10(2))."
        )
        % {"hold": held}
    )


def _confirm_removal(user, legal_request: LegalRequest) -> Decision:
    return _first_refusal(
        lambda: _answered_by(legal_request, instruments.Answer.REMOVAL),
        lambda: _may_become(legal_request, Status.RESPONDED),
    )


def _answer(user, legal_request: LegalRequest) -> Decision:
    return _first_refusal(
        lambda: _answered_by(legal_request, instruments.Answer.TEXT),
        lambda: _may_become(legal_request, Status.RESPONDED),
    )


def _preserve(user, legal_request: LegalRequest) -> Decision:
    # .get: a request whose instrument the table no longer knows still gets its page (a refusal).
    rule = instruments.RULES.get(legal_request.instrument)
    if rule is None or rule.preservation is None:
        return _not_now(gettext("Only a preservation order is preserved."))
    return _may_become(legal_request, Status.PRESERVED)


def _confirm_extension(user, legal_request: LegalRequest) -> Decision:
    if legal_request.preservation_extended_at is not None and not (
        legal_request.events.filter(kind=RequestEvent.Kind.EXTENSION_CONFIRMED).exists()
    ):
        return ALLOWED
    return _not_now(gettext("There is no extension waiting for confirmation."))


def _record_deletion(user, legal_request: LegalRequest) -> Decision:
    """The legal team records deleting the data once they are due for deletion: a preservation
    that lapsed or was ended, an emergency order whose validation was refused or lapsed."""
    now = timezone.now()
    preservation = preservation_state(legal_request, now)
    validation = validation_state(legal_request, now)
    if (preservation is not None and preservation.deletion_due) or (
        validation is not None and validation.deletion_due
    ):
        return ALLOWED
    if legal_request.data_deleted_at is not None:
        return _not_now(gettext("The deletion is already recorded."))
    return _not_now(gettext("Nothing on this request is due for deletion."))


def _legal_hold(user, legal_request: LegalRequest) -> Decision:
    if legal_request.legal_hold_at is not None:
        return _not_now(gettext("The files of this request are already held."))
    if legal_request.status == Status.DRAFT:
        return _not_now(gettext("A draft has nothing to hold."))
    return ALLOWED


def _legal_hold_release(user, legal_request: LegalRequest) -> Decision:
    if legal_request.legal_hold_at is None:
        return _not_now(gettext("The files of this request are not held."))
    return ALLOWED


def _callback(user, legal_request: LegalRequest) -> Decision:
    if not legal_request.is_emergency:
        return _not_now(gettext("Call-backs verify emergency requests only."))
    return ALLOWED


def _approve(user, legal_request: LegalRequest) -> Decision:
    if not legal_request.is_emergency:
        return _not_now(gettext("Only emergency requests need a disclosure approval."))
    if not _callback_confirmed(legal_request):
        return _not_now(gettext("Approve only after a confirmed call-back to the registry number."))
    # One lead's approval is the second pair of eyes (docs/security.md): once given, no lead
    # approves again, and the approver may not send the disclosure (emergency_disclosure_problems).
    approval = next(iter(legal_request.approvals.all()), None)
    if approval is not None:
        return _not_now(
            gettext(
                "Approved by %(lead)s on %(when)s. Anyone in the legal team other than the "
                "approver may now send the disclosure."
            )
            % {
                "lead": approval.approved_by.full_name or approval.approved_by.email,
                "when": f"{timezone.localtime(approval.at):%Y-%m-%d %H:%M %Z}",
            }
        )
    return ALLOWED


# --- The authority's actions ------------------------------------------------------------------


def officer_sees(officer, legal_request: LegalRequest) -> bool:
    """The officer's access rule, as selectors._officer_scope writes it in SQL: an approved
    officer sees their authority's requests, and colleagues' only if the authority shares them."""
    if not (officer.is_officer and officer.is_approved):
        return False
    if legal_request.authority_id != officer.authority_id:
        return False
    return legal_request.officer_id == officer.pk or officer.authority.colleagues_see_requests


def submit_block(officer) -> str | None:
    """Why this officer may not draft or submit requests now, or None."""
    if not has(officer, C.SUBMIT):
        return _missing(C.SUBMIT)
    reason = officer_block_reason(officer)
    if reason:
        return reason
    if not officer.is_approved:
        return gettext(
            "Your account is awaiting approval: you can submit requests once platform staff "
            "have checked it against the registry."
        )
    return None


def _own_draft(user, legal_request: LegalRequest) -> Decision:
    block = submit_block(user)
    if block:
        return _forbidden(block)
    if legal_request.officer_id != user.pk or legal_request.status != Status.DRAFT:
        return _forbidden(gettext("Only your own drafts can be edited; submitted requests cannot."))
    return ALLOWED


def _delete_draft(user, legal_request: LegalRequest) -> Decision:
    if legal_request.officer_id != user.pk or legal_request.status != Status.DRAFT:
        return _forbidden(
            gettext("Only your own drafts can be deleted; submitted requests cannot.")
        )
    return ALLOWED


def _copy(user, legal_request: LegalRequest) -> Decision:
    """A follow-up starts as a copy of a submitted request the officer sees (their authority's),
    into a draft of their own."""
    block = submit_block(user)
    if block:
        return _forbidden(block)
    if not officer_sees(user, legal_request):
        return _forbidden(gettext("Not a request of your authority."))
    if legal_request.status == Status.DRAFT:
        return _not_now(gettext("A draft is continued, not copied."))
    if not instruments.is_known(legal_request.instrument):
        return _not_now(gettext("This instrument is no longer offered: start a new request."))
    return ALLOWED


def _submit(user, legal_request: LegalRequest) -> Decision:
    block = submit_block(user)
    if block:
        return _forbidden(block)
    if legal_request.officer_id != user.pk:
        return _forbidden(gettext("Only the officer who drafted a request submits it."))
    if legal_request.status != Status.DRAFT:
        return _not_now(gettext("This request was already submitted."))
    return ALLOWED


def _followed(user, legal_request: LegalRequest) -> Decision:
    if not officer_sees(user, legal_request):
        return _forbidden(gettext("Not a request of your authority."))
    if legal_request.status == Status.DRAFT:
        return _not_now(gettext("This request is still a draft."))
    return ALLOWED


def _message(user, legal_request: LegalRequest) -> Decision:
    if legal_request.status == Status.CLOSED:
        return _not_now(gettext("This request is closed; start a new request."))
    return ALLOWED


def _withdraw(user, legal_request: LegalRequest) -> Decision:
    return _may_become(legal_request, Status.WITHDRAWN)


def _preservation_open(legal_request: LegalRequest, not_preservation: str) -> Decision:
    """The preservation runs and the issuing authority may still act on it: the one predicate
    (preservation.preservation_state) that the alerts and the pages read too."""
    preservation = preservation_state(legal_request, timezone.now())
    if preservation is None:
        return _not_now(not_preservation)
    if preservation.state == PreservationState.LAPSED:
        return _not_now(gettext("This preservation has lapsed: the data are to be deleted."))
    if not preservation.open_to_authority:
        return _not_now(gettext("This preservation order is no longer active."))
    return ALLOWED


def _extend(user, legal_request: LegalRequest) -> Decision:
    def once() -> Decision:
        preservation = preservation_state(legal_request, timezone.now())
        if preservation.state == PreservationState.UNTIL_PRODUCTION:
            return _not_now(
                gettext("A production request was confirmed: preservation has no end date.")
            )
        if not preservation.may_extend:
            return _not_now(gettext("The preservation was already extended once (30 days)."))
        return ALLOWED

    return _first_refusal(
        lambda: _preservation_open(
            legal_request, gettext("Only a preservation order can be extended.")
        ),
        once,
    )


def _confirm_production(user, legal_request: LegalRequest) -> Decision:
    def not_yet() -> Decision:
        if preservation_state(legal_request, timezone.now()).state != PreservationState.RUNNING:
            return _not_now(gettext("A production request was already confirmed."))
        return ALLOWED

    return _first_refusal(
        lambda: _preservation_open(
            legal_request, gettext("Only a preservation order has a production follow-up.")
        ),
        not_yet,
    )


def _end_preservation(user, legal_request: LegalRequest) -> Decision:
    return _preservation_open(legal_request, gettext("Only a preservation order can be ended."))


def _record_validation(user, legal_request: LegalRequest) -> Decision:
    validation = validation_state(legal_request, timezone.now())
    if validation is None:
        return _not_now(gettext("This order needs no ex post validation."))
    if validation.state == ValidationState.LAPSED:
        return _not_now(
            gettext(
                "The 48 hours for the ex post validation have passed (e-Evidence Art. 4(5)): "
                "withdraw the order."
            )
        )
    if validation.state != ValidationState.PENDING:
        return _not_now(gettext("The ex post validation is already recorded."))
    return ALLOWED


# --- The enforcing authority's actions ---------------------------------------------------------


def _enforcing_decide(user, legal_request: LegalRequest) -> Decision:
    if not (
        legal_request.enforcing_notified
        and legal_request.enforcing_authority_id is not None
        and legal_request.enforcing_authority_id == user.authority_id
    ):
        return _forbidden(gettext("This order does not name your authority."))
    if legal_request.status not in OPEN_STATUSES or not legal_request.on_hold():
        return _not_now(
            gettext("The window for grounds for refusal is closed (e-Evidence Art. 12(1)).")
        )
    return ALLOWED


# --- The table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    capability: Capability
    now: Callable[[object, LegalRequest], Decision]  # (user, legal_request): the rule of the moment
    # The officer's actions apply to their authority's submitted requests only.
    followed: bool = False


RULES: dict[str, Rule] = {
    # The legal team (requests_app.review).
    "assign": Rule(C.ASSIGN, _assign),
    "accept": Rule(C.REVIEW, _accept),
    "clarify": Rule(C.REVIEW, lambda user, r: _may_become(r, Status.CLARIFICATION)),
    "refuse": Rule(C.REVIEW, lambda user, r: _may_become(r, Status.REFUSED)),
    "respond": Rule(C.REVIEW, _respond),
    "confirm_removal": Rule(C.REVIEW, _confirm_removal),
    "answer": Rule(C.REVIEW, _answer),
    # A message in the thread, the clock running on ("clarify" stops it); until closed, as the
    # authority's messages.
    "message_officer": Rule(C.REVIEW, _message),
    "preserve": Rule(C.REVIEW, _preserve),
    "confirm_extension": Rule(C.REVIEW, _confirm_extension),
    "close": Rule(C.REVIEW, lambda user, r: _may_become(r, Status.CLOSED)),
    "record_deletion": Rule(C.REVIEW, _record_deletion),
    "callback": Rule(C.REVIEW, _callback),
    "legal_hold": Rule(C.HOLD_FILES, _legal_hold),
    "legal_hold_release": Rule(C.HOLD_FILES, _legal_hold_release),
    "approve": Rule(C.APPROVE_DISCLOSURE, _approve),
    # The authority (requests_app.services).
    "edit_draft": Rule(C.SUBMIT, _own_draft),
    "delete_draft": Rule(C.SUBMIT, _delete_draft),
    "submit": Rule(C.SUBMIT, _submit),
    "copy": Rule(C.SUBMIT, _copy),
    "message": Rule(C.FOLLOW, _message, followed=True),
    "withdraw": Rule(C.FOLLOW, _withdraw, followed=True),
    "extend_preservation": Rule(C.FOLLOW, _extend, followed=True),
    "confirm_production": Rule(C.FOLLOW, _confirm_production, followed=True),
    "end_preservation": Rule(C.FOLLOW, _end_preservation, followed=True),
    "record_validation": Rule(C.FOLLOW, _record_validation, followed=True),
    # The enforcing authority (requests_app.enforcing): confirm no ground, or raise grounds.
    "enforcing_decide": Rule(C.ENFORCE, _enforcing_decide),
}


def may(user, action: str) -> Decision:
    """The capability part of an action's rule alone: whether this user could ever do it."""
    capability = RULES[action].capability
    return ALLOWED if has(user, capability) else _forbidden(_missing(capability))


def decide(user, action: str, legal_request: LegalRequest) -> Decision:
    """May this user do this to this request now? If not, the Decision says why."""
    rule = RULES[action]
    return _first_refusal(
        lambda: may(user, action),
        lambda: _followed(user, legal_request) if rule.followed else ALLOWED,
        lambda: rule.now(user, legal_request),
    )


def check(user, action: str, legal_request: LegalRequest) -> None:
    """The services' guard: raise PermissionDenied or TransitionError with the reason."""
    decide(user, action, legal_request).raise_if_refused()


def locked(user, action: str, legal_request: LegalRequest) -> LegalRequest:
    """The request, locked for the caller's transaction, once this user may do the action on
    it now: asked again under the lock, as another action may have moved it meanwhile. Every
    service that changes a request starts here."""
    legal_request = (
        LegalRequest.objects.select_for_update()
        .select_related("authority", "officer")
        .get(pk=legal_request.pk)
    )
    check(user, action, legal_request)
    return legal_request


def require_capability(user, capability: Capability) -> None:
    if not has(user, capability):
        raise PermissionDenied(_missing(capability))


def require(user, action: str) -> None:
    """The capability part of the guard, for a service to call before it reads its input."""
    may(user, action).raise_if_refused()


def offered(user, legal_request: LegalRequest, actions) -> dict[str, Decision]:
    """The decisions a page shows: {% if actions.close %}…{% endif %}."""
    return {action: decide(user, action, legal_request) for action in actions}
