"""The enforcing authority of e-Evidence production orders (Regulation (EU) 2023/1543, Art. 8, 10,
12; docs/instruments.md quotes them): the hold window, its two actions (confirm no ground for
refusal, raise grounds) and the lapse of a window nobody answered.

1. At receipt, a notified order gets `hold_until` (services.legal_request_submit): no data before
   it (policies "respond"), and the internal deadline is not before it (lifecycle.recompute_due_at).
2. The enforcing authority confirms no ground: the hold ends now (Art. 10(2), second sentence).
3. It raises grounds (Art. 12(1)) for the whole order or some categories: a ground covering every
   category refuses the request (REFUSED_BY_ENFORCING); otherwise the refused categories never go
   (legal_request.refused_categories), and the rest waits for the end of the window or a
   confirmation that no other ground will be raised.
4. A window that ends with neither releases the hold on its own: `holds_lapse` (the deadline
   sweep's beat) records it once per request (a conditional update).
The issuing officer and the legal team are told by e-mail of 2 and 3.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from . import alerts, policies
from .holds import enforcing_state_of
from .lifecycle import in_english, recompute_due_at, transition
from .models import EnforcingGround, EnforcingRefusal, LegalRequest, RequestEvent, Status
from .notifications import Email, notice_context, notifications_enqueue

# What the e-mails say (translated into each recipient's language when queued).
NO_GROUND = gettext_noop(
    "The enforcing authority confirmed that it raises no ground for refusal: the data may be "
    "transmitted now."
)
REFUSED_WHOLE = gettext_noop(
    "The enforcing authority refused the whole order (e-Evidence Art. 12): no data may be "
    "transferred. The request ends as refused by the enforcing authority."
)
REFUSED_PART = gettext_noop(
    "The enforcing authority refused part of the order (e-Evidence Art. 12): the refused data "
    "categories must not be transferred; the others may be, once the hold ends."
)


def _tell_officer_and_team(legal_request: LegalRequest, event: RequestEvent, decision: str):
    """The issuing officer (in their language and time zone) and the legal team, by the outbox."""
    officer = legal_request.officer
    team = alerts.recipients(legal_request, alerts.Kind.DEADLINE)
    emails = []
    for who, recipients, language, zone in (
        ("officer", [officer.email], officer.preferred_language, officer.time_zone),
        ("team", team, "en", "UTC"),
    ):
        if not recipients:
            continue
        with translation.override(language):
            context = notice_context(legal_request, language=language, time_zone=zone)
            context.update(
                decision=gettext(decision),
                decision_short=gettext(RequestEvent.Kind(event.kind).label),
                enforcing_state=enforcing_state_of(legal_request),
            )
        emails.append(
            Email(
                key=f"enforcing:{event.pk}:{who}",
                recipients=recipients,
                template="enforcing_decision",
                context=context,
                legal_request=legal_request,
                language=language,
            )
        )
    notifications_enqueue(emails)


@transaction.atomic
def enforcing_confirm_no_ground(*, officer, legal_request: LegalRequest) -> RequestEvent:
    """Art. 10(2): the enforcing authority will raise no (further) ground; the hold ends now and
    the platform acts as soon as possible."""
    policies.require(officer, "enforcing_decide")
    legal_request = policies.locked(officer, "enforcing_decide", legal_request)
    now = timezone.now()
    legal_request.hold_released_at = now
    LegalRequest.objects.filter(pk=legal_request.pk).update(hold_released_at=now)
    event = RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.ENFORCING_NO_GROUND,
        actor=officer,
        detail=f"{legal_request.enforcing_authority_id}: no ground for refusal",
    )
    recompute_due_at(legal_request)
    _tell_officer_and_team(legal_request, event, NO_GROUND)
    return event


def _ground_problems(legal_request: LegalRequest, grounds) -> dict[str, list[str]]:
    """What is wrong, by the field of the pages' form (and the API's body) it is about."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        if message not in problems.setdefault(field, []):
            problems[field].append(message)

    if not grounds:
        add("ground", gettext("Raise at least one ground for refusal."))
    for ground, categories, reasons in grounds:
        if ground not in EnforcingGround.values:
            add("ground", gettext("Choose a ground for refusal of Art. 12(1)."))
        if not reasons.strip():
            add("reasons", gettext("Give the reasons for each ground."))
        unknown = [c for c in categories if c not in legal_request.data_categories]
        if unknown:
            add(
                "categories",
                gettext("The order does not request %(categories)s.")
                % {"categories": ", ".join(unknown)},
            )
    return problems


@transaction.atomic
def enforcing_raise_grounds(
    *, officer, legal_request: LegalRequest, grounds: list[tuple[str, list[str], str]]
) -> RequestEvent:
    """Art. 12(1): grounds for refusal, each (ground, categories, reasons); no categories means
    the whole order. When the refused categories cover the whole order the request ends
    (refused by the enforcing authority); otherwise the refused categories never go."""
    policies.require(officer, "enforcing_decide")
    legal_request = policies.locked(officer, "enforcing_decide", legal_request)
    problems = _ground_problems(legal_request, grounds)
    if problems:
        raise ValidationError(problems)
    now = timezone.now()
    refused = set(legal_request.refused_categories)
    for ground, categories, reasons in grounds:
        EnforcingRefusal.objects.create(
            request=legal_request,
            ground=ground,
            categories=sorted(set(categories)),
            reasons=reasons.strip(),
            raised_by=officer,
            raised_at=now,
        )
        refused |= set(categories) if categories else set(legal_request.data_categories)
    legal_request.refused_categories = [c for c in legal_request.data_categories if c in refused]
    detail = "; ".join(
        f"{ground} ({', '.join(categories) or 'whole order'}): {reasons.strip()}"
        for ground, categories, reasons in grounds
    )
    whole = not legal_request.categories_left
    if whole:
        event = transition(
            legal_request=legal_request,
            to=Status.REFUSED_BY_ENFORCING,
            actor=officer,
            kind=RequestEvent.Kind.ENFORCING_GROUNDS,
            detail=detail,
            refused_categories=legal_request.refused_categories,
            hold_released_at=now,
            answered_at=now,
        )
        # Nothing left to answer: no deadline alerts for it any more.
        alerts.deadline_changed(legal_request)
        decision = REFUSED_WHOLE
    else:
        LegalRequest.objects.filter(pk=legal_request.pk).update(
            refused_categories=legal_request.refused_categories
        )
        event = RequestEvent.objects.create(
            request=legal_request,
            kind=RequestEvent.Kind.ENFORCING_GROUNDS,
            actor=officer,
            detail=detail,
        )
        decision = REFUSED_PART
    _tell_officer_and_team(legal_request, event, decision)
    return event


def holds_lapse(now: datetime | None = None) -> int:
    """Release the holds whose window ended without a confirmation (Art. 10(2): the data go at
    the end of the window), recording the lapse once per request: the conditional update claims
    it, so two sweeps at once record it once. Returns how many were released."""
    now = now or timezone.now()
    due = LegalRequest.objects.filter(
        hold_until__isnull=False, hold_released_at__isnull=True, hold_until__lte=now
    ).values_list("pk", "hold_until")
    released = 0
    for pk, hold_until in due:
        with transaction.atomic():
            claimed = LegalRequest.objects.filter(pk=pk, hold_released_at__isnull=True).update(
                hold_released_at=hold_until
            )
            if claimed != 1:
                continue
            RequestEvent.objects.create(
                request_id=pk,
                kind=RequestEvent.Kind.HOLD_LAPSED,
                at=now,
                detail=in_english(
                    "The enforcing authority's window ended without an answer: hold released."
                ),
            )
            released += 1
    return released
