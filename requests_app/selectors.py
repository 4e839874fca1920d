"""Every read of a legal request by a user goes through here, one selector per audience.
An object outside the audience's reach does not exist for them (Http404)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat
from django.db.models.lookups import GreaterThan, LessThan
from django.http import Http404

from authorities.constants import AuthorityStatus
from authorities.models import Authority, User
from portal.cache import cache_get, cache_set
from portal.logs import bind_reference
from portal.queries import Prepared, read_together

from . import policies
from .ex_post_validation import validation_state
from .models import (
    OPEN_STATUSES,
    AccessLog,
    Attachment,
    CallbackVerification,
    DisclosureApproval,
    LegalRequest,
    Message,
    OwedReceipt,
    ProducedData,
    Receipt,
    RequestEvent,
    RequestTarget,
    SealedDocument,
    Status,
)


def _officer_scope(officer) -> QuerySet[LegalRequest]:
    # The same rule as policies.officer_sees, in SQL (tests/requests_app/test_policies.py).
    # An officer awaiting approval sees nothing: a new account, or one whose second factor
    # staff reset (then only a mailbox may stand behind the login until staff approve again).
    if not (officer.is_authenticated and officer.is_officer and officer.is_approved):
        return LegalRequest.objects.none()
    scope = LegalRequest.objects.filter(authority_id=officer.authority_id)
    if not officer.authority.colleagues_see_requests:
        scope = scope.filter(officer=officer)
    return scope


# The officer's list orders (?sort=); anything else is the default, "urgency".
OFFICER_SORTS = ("urgency", "due", "newest", "oldest")
# How long a search string may be: the longest case reference (LegalRequest.case_reference).
OFFICER_SEARCH_MAX = 100


def legal_requests_for_officer(
    officer, *, status: str | None = None, q: str = "", sort: str = "urgency"
) -> QuerySet[LegalRequest]:
    """The officer's requests. `q` finds a reference (exactly, any case) or a case reference
    (any part of it). `sort`, one of OFFICER_SORTS: "urgency" puts first what waits for the
    authority's answer (a clarification), then the open requests by the nearest due date, then
    drafts, then the finished ones, newest first; "due" orders by the internal target."""
    requests = _officer_scope(officer).select_related("officer")
    if status:
        requests = requests.filter(status=status)
    q = q.strip()[:OFFICER_SEARCH_MAX]
    if q:
        requests = requests.filter(Q(reference__iexact=q) | Q(case_reference__icontains=q))
    if sort == "due":
        return requests.order_by(F("due_at").asc(nulls_last=True), "-created_at", "-pk")
    if sort == "newest":
        return requests.order_by("-created_at", "-pk")
    if sort == "oldest":
        return requests.order_by("created_at", "pk")
    rank = Case(
        When(status=Status.CLARIFICATION, then=Value(0)),
        When(status__in=OPEN_STATUSES, then=Value(1)),
        When(status=Status.DRAFT, then=Value(2)),
        default=Value(3),
    )
    # A finished request may keep its last due_at: only an open one's counts here.
    open_due = Case(When(status__in=OPEN_STATUSES, then=F("due_at")), default=None)
    return requests.annotate(urgency=rank, open_due=open_due).order_by(
        "urgency", F("open_due").asc(nulls_last=True), "-created_at", "-pk"
    )


@dataclass(frozen=True)
class OfficerAgenda:
    """What waits for the officer, for their home page: the questions to answer, the nearest
    deadlines, the produced data to fetch before the link expires."""

    clarifications: list[LegalRequest]
    deadlines: list[LegalRequest]
    downloads: list[ProducedData]

    def __bool__(self) -> bool:
        return bool(self.clarifications or self.deadlines or self.downloads)


# Produced data already downloaded stay on the home while their link has this long to run.
DOWNLOAD_EXPIRING = timedelta(days=2)


def officer_agenda(officer, *, now: datetime, size: int = 10) -> OfficerAgenda:
    """The officer's own requests that need them (through _officer_scope: nothing for anyone
    else, nothing while awaiting approval):

    1. clarifications: on hold until the authority answers, the longest waiting first, each
       with the platform's latest question (`question`);
    2. deadlines: the open requests by the nearest internal target;
    3. downloads: produced data whose link still runs and which nobody has downloaded yet
       (the access log), or which expire within DOWNLOAD_EXPIRING, soonest first; data the
       portal would refuse (a failed ex post validation) are left out."""
    own = _officer_scope(officer).filter(officer=officer)
    question = (
        Message.objects.filter(request=OuterRef("pk"), kind=Message.Kind.CLARIFICATION_REQUEST)
        .order_by("-at", "-pk")
        .values("body")[:1]
    )
    clarifications = list(
        own.filter(status=Status.CLARIFICATION)
        .annotate(question=Subquery(question))
        .order_by(F("clock_stopped_at").asc(nulls_last=True), "pk")[:size]
    )
    deadlines = list(
        own.filter(status__in=OPEN_STATUSES, due_at__isnull=False)
        .exclude(status=Status.CLARIFICATION)
        .order_by("due_at", "pk")[:size]
    )
    downloaded = AccessLog.objects.filter(
        request=OuterRef("request"),
        action=AccessLog.Action.DOWNLOAD_PRODUCED,
        object_ref__endswith=Concat(
            Value("("), Cast(OuterRef("public_id"), CharField()), Value(")")
        ),
    )
    candidates = (
        ProducedData.objects.filter(request__in=own, expires_at__gt=now)
        .annotate(downloaded=Exists(downloaded))
        .filter(Q(downloaded=False) | Q(expires_at__lte=now + DOWNLOAD_EXPIRING))
        .select_related("request")
        .order_by("expires_at", "pk")
    )
    downloads = []
    # The download's own rule (views.produced_download): a few rows, each read once.
    for produced in candidates.iterator(chunk_size=size):
        validation = validation_state(produced.request, now)
        if validation is None or not validation.failed:
            downloads.append(produced)
            if len(downloads) == size:
                break
    return OfficerAgenda(clarifications, deadlines, downloads)


def legal_request_get_for_officer(officer, public_id) -> LegalRequest:
    legal_request = (
        _officer_scope(officer)
        .select_related("authority", "officer", "receipt", "owed_receipt")
        .prefetch_related(
            "targets",
            Prefetch("attachments", queryset=Attachment.objects.select_related("uploaded_by")),
            Prefetch("messages", queryset=Message.objects.select_related("author")),
            "produced",
            "sealed_documents",
            Prefetch(
                "events",
                queryset=RequestEvent.objects.filter(visible_to_authority=True).select_related(
                    "actor"
                ),
                to_attr="visible_events",
            ),
        )
        .filter(public_id=public_id)
        .first()
    )
    if legal_request is None:
        raise Http404("No such request.")
    bind_reference(legal_request.reference)  # every log line of this HTTP request names it
    return legal_request


def attachment_get_for_officer(officer, request_public_id, attachment_public_id) -> Attachment:
    return _attachment_in(_officer_scope(officer), request_public_id, attachment_public_id)


def _of_officer_request(model, officer, request_public_id, missing: str, **lookup):
    """An object (`lookup`) of one of the requests the officer may read, with its request; 404
    (saying `missing`) for anything else, another authority's included."""
    found = (
        model.objects.filter(
            request__in=_officer_scope(officer), request__public_id=request_public_id, **lookup
        )
        .select_related("request")
        .first()
    )
    if found is None:
        raise Http404(missing)
    return found


def receipt_get_for_officer(officer, request_public_id) -> Receipt | OwedReceipt:
    """The sealed receipt of one of the officer's authority's requests; while it is still being
    prepared (receipts.py), the OwedReceipt row that says so; else 404."""
    try:
        return _of_officer_request(Receipt, officer, request_public_id, "No receipt.")
    except Http404:
        return _of_officer_request(
            OwedReceipt,
            officer,
            request_public_id,
            "No receipt.",
            state__in=[OwedReceipt.State.PENDING, OwedReceipt.State.SEALING],
        )


def sealed_document_get_for_officer(
    officer, request_public_id, document_public_id
) -> SealedDocument:
    """A sealed notice or delivery manifest of one of the officer's authority's requests, or
    404."""
    return _of_officer_request(
        SealedDocument,
        officer,
        request_public_id,
        "No such document.",
        public_id=document_public_id,
    )


def _attachment_in(scope, request_public_id, attachment_public_id) -> Attachment:
    """An attachment of a request in `scope` (a reader's access-checked requests), or 404."""
    attachment = (
        Attachment.objects.filter(
            request__in=scope,
            request__public_id=request_public_id,
            public_id=attachment_public_id,
        )
        .select_related("request")
        .first()
    )
    if attachment is None:
        raise Http404("No such document.")
    return attachment


# --- The enforcing authority (e-Evidence Art. 8) ---------------------------------------------


def _enforcer_scope(user) -> QuerySet[LegalRequest]:
    """The orders notified to the user's authority, once submitted; nothing for anyone who is
    not an officer of an enforcing authority (policies.Capability.ENFORCE)."""
    from .policies import Capability, has

    if not (user.is_authenticated and has(user, Capability.ENFORCE)):
        return LegalRequest.objects.none()
    return LegalRequest.objects.filter(
        enforcing_authority_id=user.authority_id, enforcing_notified=True
    ).exclude(status=Status.DRAFT)


def legal_requests_for_enforcer(user) -> QuerySet[LegalRequest]:
    return _enforcer_scope(user).select_related("authority").order_by("-received_at")


def legal_request_get_for_enforcer(user, public_id) -> LegalRequest:
    legal_request = (
        _enforcer_scope(user)
        .select_related("authority", "officer", "enforcing_authority")
        .prefetch_related("targets", "attachments", "enforcing_refusals")
        .filter(public_id=public_id)
        .first()
    )
    if legal_request is None:
        raise Http404("No such request.")
    bind_reference(legal_request.reference)
    return legal_request


def attachment_get_for_enforcer(user, request_public_id, attachment_public_id) -> Attachment:
    return _attachment_in(_enforcer_scope(user), request_public_id, attachment_public_id)


# What the enforcing authority is told of an order notified to it (the API's events feed and
# webhooks): its arrival (the notification, Art. 8(1)), the issuing authority withdrawing it,
# the enforcing authority's own answers and the window's lapse; not the platform's work on it.
ENFORCER_EVENT_KINDS = (
    RequestEvent.Kind.SUBMITTED,
    RequestEvent.Kind.WITHDRAWN,
    RequestEvent.Kind.ENFORCING_NO_GROUND,
    RequestEvent.Kind.ENFORCING_GROUNDS,
    RequestEvent.Kind.HOLD_LAPSED,
)


def events_for_enforcer(user) -> QuerySet[RequestEvent]:
    return RequestEvent.objects.filter(
        request__in=_enforcer_scope(user).values("pk"), kind__in=ENFORCER_EVENT_KINDS
    )


def enforcer_told_of(user, event: RequestEvent) -> bool:
    """Would events_for_enforcer(user) hold this event? (A webhook is queued per event.)"""
    return (
        event.kind in ENFORCER_EVENT_KINDS
        and _enforcer_scope(user).filter(pk=event.request_id).exists()
    )


# --- The platform legal team ------------------------------------------------------------------


def _legal_team_or_404(user) -> None:
    # The queue and each request: the same readers (policies.ROLE_CAPABILITIES).
    if not policies.has(user, policies.Capability.VIEW_REQUEST):
        raise Http404


@dataclass(frozen=True)
class QueueFilters:
    status: str = ""
    instrument: str = ""
    country: str = ""
    authority: str = ""
    assignee: str = ""  # "", "mine", "unassigned" or a user id
    emergency: bool = False
    risk: bool = False  # only requests with risk signals at submission
    q: str = ""
    sort: str = "due"  # a key of QUEUE_SORTS


# The queue's orders (?sort=): the column and whether it runs newest/latest first. Each is
# paginated by keyset on (column, id); rows without a value (a stopped clock) come last.
QUEUE_SORTS = {
    "due": ("due_at", False),
    "-due": ("due_at", True),
    "received": ("received_at", False),
    "-received": ("received_at", True),
}


@dataclass
class QueuePage:
    rows: list
    next_cursor: str | None
    counts: dict[str, int]


def _queue_scope(user, filters: QueueFilters) -> QuerySet[LegalRequest]:
    rows = LegalRequest.objects.exclude(status=Status.DRAFT)
    rows = (
        rows.filter(status=filters.status)
        if filters.status
        else rows.filter(status__in=OPEN_STATUSES)
    )
    if filters.instrument:
        rows = rows.filter(instrument=filters.instrument)
    if filters.country:
        rows = rows.filter(authority__country=filters.country)
    if filters.authority:
        rows = rows.filter(authority_id=filters.authority)
    if filters.assignee == "mine":
        rows = rows.filter(assignee=user)
    elif filters.assignee == "unassigned":
        rows = rows.filter(assignee__isnull=True)
    elif filters.assignee.isdecimal():  # not isdigit: int() refuses "²" (was a 500)
        rows = rows.filter(assignee_id=int(filters.assignee))
    if filters.emergency:
        rows = rows.filter(is_emergency=True)
    if filters.risk:
        rows = rows.filter(risk_signal_count__gt=0)
    q = filters.q.strip()
    if q:
        # The matching ids first, each from its own index (reference, case reference, target
        # value), then the page: an OR of subqueries here made PostgreSQL scan every open
        # request (seconds at a million rows, docs/performance.md). Each part drops its model's
        # default ordering: SQLite refuses an ORDER BY inside a UNION (the search was a 500).
        ids = (
            LegalRequest.objects.filter(reference=q.upper())
            .order_by()
            .values_list("id", flat=True)
            .union(
                LegalRequest.objects.filter(case_reference=q)
                .order_by()
                .values_list("id", flat=True),
                RequestTarget.objects.filter(value__in={q, q.lower()})
                .order_by()
                .values_list("request_id", flat=True),
            )
        )
        rows = rows.filter(pk__in=list(ids))
    return rows


def review_queue(user, filters: QueueFilters, *, cursor: str | None, size: int = 50) -> QueuePage:
    """The queue in deadline order (overdue first, then least time left; stopped clocks last),
    or in another of QUEUE_SORTS, paginated by keyset on (column, id): page N costs the same as
    page 1."""
    _legal_team_or_404(user)
    scope = _queue_scope(user, filters)
    column, descending = QUEUE_SORTS.get(filters.sort, QUEUE_SORTS["due"])
    ordered = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
    rows = scope.select_related("authority", "assignee").order_by(
        ordered, "-id" if descending else "id"
    )
    value = ""
    if cursor:
        value, _, last_id = cursor.partition("|")
        # An id has at most 19 digits; int() refuses more than 4,300 (it was a 500).
        last_id = int(last_id) if last_id.isdecimal() and len(last_id) <= 19 else 0
        if not value:
            rows = rows.filter(
                **{f"{column}__isnull": True, "id__lt" if descending else "id__gt": last_id}
            )
        elif (at := _cursor_due(value)) is not None:
            # A row comparison, which the (due_at, id) index serves as one range: deep pages
            # cost what the first page costs. Rows with no value follow, fetched below.
            compare = LessThan if descending else GreaterThan
            rows = rows.filter(
                compare(
                    Func(F(column), F("id"), function="ROW", output_field=DateTimeField()),
                    Func(Value(at), Value(last_id), function="ROW", output_field=DateTimeField()),
                )
            )
        # Otherwise a cursor the queue did not write (it was a 500): the first page.
    page = list(rows[: size + 1])
    if len(page) <= size and cursor and value:
        # The dated rows ran out: carry on with those without a value (a stopped clock), by id.
        undated = scope.select_related("authority", "assignee").filter(
            **{f"{column}__isnull": True}
        )
        page += list(undated.order_by("-id" if descending else "id")[: size + 1 - len(page)])
    next_cursor = None
    if len(page) > size:
        page = page[:size]
        last = page[-1]
        at = getattr(last, column)
        next_cursor = f"{at.isoformat() if at else ''}|{last.pk}"
    return QueuePage(rows=page, next_cursor=next_cursor, counts=status_counts(user))


def queue_authorities() -> list[tuple[str, str]]:
    """(id, "name (country)") of the registry's active authorities, by Member State and name:
    the queue's authority filter picks from them."""
    return [
        (pk, f"{name} ({country})")
        for pk, name, country in Authority.objects.filter(status=AuthorityStatus.ACTIVE)
        .order_by("country", "name_en")
        .values_list("id", "name_en", "country")
    ]


def _cursor_due(due: str) -> datetime | None:
    """The due_at of a cursor the queue wrote (ISO 8601 with an offset), else None."""
    try:
        due_at = datetime.fromisoformat(due)
        return due_at.astimezone(UTC) if due_at.tzinfo else None
    except (ValueError, OverflowError):
        return None


# At most this stale, in the rare case described in status_counts.
STATUS_COUNTS_CACHE_SECONDS = 60


def status_counts(user) -> dict[str, int]:
    """Requests per status, for the queue's header.

    Counting reads every submitted request (300 ms at a million, docs/performance.md), so the
    counts are cached under the newest event: a status changes only in lifecycle.transition,
    which writes an event in the same transaction, so a changed status means a new key. The
    timeout bounds the one case the key misses (an event committed after a later-numbered one).
    Without the cache (Redis down) the counts are computed, as before."""
    _legal_team_or_404(user)
    newest = RequestEvent.objects.order_by("-pk").values_list("pk", "at").first()
    key = (
        f"requests:status_counts:{connection.settings_dict['NAME']}:"
        f"{newest[0]}:{newest[1].timestamp()}"
        if newest
        else None
    )
    counts = cache_get(key) if key else None
    if counts is None:
        counts = dict(
            LegalRequest.objects.exclude(status=Status.DRAFT)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        if key:
            cache_set(key, counts, STATUS_COUNTS_CACHE_SECONDS)
    return {value: counts.get(value, 0) for value in Status.values if value != Status.DRAFT}


# The review page's rows of a request, by related name, and the fields of each that name a user.
_PEOPLE = {
    "targets": (),
    "attachments": (),  # who uploaded each is not shown
    "messages": ("author",),
    "events": ("actor",),
    "callbacks": ("verified_by",),
    "approvals": ("approved_by",),
    "produced": ("uploaded_by",),
}
# The review page's reads, made on every view of it: their SQL written once (portal/queries.py).
_REQUEST_BY_PUBLIC_ID = Prepared(
    lambda public_id: LegalRequest.objects.select_related("authority", "officer").filter(
        public_id=public_id
    )
)


def _rows_read(name: str) -> Prepared:
    """A request's rows `name`, found by the request's public id (a subquery on its unique key):
    read in the same round trip as the request itself."""
    model = LegalRequest._meta.get_field(name).related_model
    return Prepared(
        lambda public_id: model._default_manager.filter(
            request_id=Subquery(LegalRequest.objects.filter(public_id=public_id).values("pk")[:1])
        )
    )


_ROWS = {name: _rows_read(name) for name in _PEOPLE}
_USERS_BY_ID = Prepared(lambda *ids: User.objects.filter(pk__in=ids))


def _give_prefetched(legal_request: LegalRequest, name: str, rows: list) -> None:
    """What prefetch_related leaves on the request: legal_request.<name>.all() is `rows`,
    without a query (django.db.models.query.prefetch_one_level does the same)."""
    queryset = getattr(legal_request, name).get_queryset()
    queryset._result_cache, queryset._prefetch_done = rows, True
    if not hasattr(legal_request, "_prefetched_objects_cache"):
        legal_request._prefetched_objects_cache = {}
    legal_request._prefetched_objects_cache[name] = queryset


def legal_request_get_for_legal_team(user, public_id) -> LegalRequest:
    _legal_team_or_404(user)
    # The request and all its rows (targets, documents, messages, timeline, call-backs,
    # approvals, produced data) in one round trip: rows a request cannot have yet are an empty
    # index scan inside the same message, cheaper than another query (docs/performance.md).
    found, *kept = read_together(
        (_REQUEST_BY_PUBLIC_ID, (public_id,)), *((_ROWS[name], (public_id,)) for name in _PEOPLE)
    )
    # A draft is the officer's alone. Tested on the row read by its unique key, not in SQL: the
    # planner proves the status predicate against each partial index on status, which doubled
    # the planning of this join at a million requests (docs/performance.md).
    if not found or found[0].status == Status.DRAFT:
        raise Http404("No such request.")
    [legal_request] = found
    rows = dict(zip(_PEOPLE, kept, strict=True))
    for row in (row for kind in rows.values() for row in kind):
        row.request = legal_request  # row.request reads no row again
    # Everyone these rows name (authors, actors, who verified, approved or uploaded), the
    # assignee, the officer's approver and who set a legal hold, in one read by id: not a join
    # per kind of row, nor two more outer joins in the request's query (PostgreSQL planned that
    # five-table join in about 1 ms at L, more than every other query of the page together).
    officer = legal_request.officer
    named = [
        (legal_request, "assignee"),
        (legal_request, "legal_hold_by"),
        (officer, "approved_by"),
    ]
    named += [
        (row, field) for name, kind in rows.items() for field in _PEOPLE[name] for row in kind
    ]
    ids = sorted({getattr(obj, f"{field}_id") for obj, field in named} - {None})
    people = {user.pk: user for user in _USERS_BY_ID(*ids)} if ids else {}
    for obj, field in named:
        # A user gone since the first read (an assignee's account deleted in between) is left
        # to the page's own read of it, as without this.
        if (person := people.get(getattr(obj, f"{field}_id"))) is not None:
            setattr(obj, field, person)
    for name, kind in rows.items():
        _give_prefetched(legal_request, name, kind)
    bind_reference(legal_request.reference)  # every log line of this HTTP request names it
    return legal_request


def attachment_get_for_legal_team(user, request_public_id, attachment_public_id) -> Attachment:
    _legal_team_or_404(user)
    attachment = (
        Attachment.objects.exclude(request__status=Status.DRAFT)
        .filter(request__public_id=request_public_id, public_id=attachment_public_id)
        .select_related("request")
        .first()
    )
    if attachment is None:
        raise Http404("No such document.")
    return attachment


def produced_get_for_officer(officer, request_public_id, produced_public_id) -> ProducedData:
    return _of_officer_request(
        ProducedData, officer, request_public_id, "No such download.", public_id=produced_public_id
    )


def access_log_page(
    user, *, reference: str = "", before: int | None = None, size: int = 100
) -> list[AccessLog]:
    """The access log, newest first, for those who audit (policies: VIEW_AUDIT); `reference`
    narrows it to one request (index access_log_request_at), `before` is the keyset cursor."""
    if not policies.has(user, policies.Capability.VIEW_AUDIT):
        raise Http404
    rows = AccessLog.objects.select_related("user", "request").order_by("-id")
    if reference:
        rows = rows.filter(request__reference=reference)
    if before is not None:
        rows = rows.filter(id__lt=before)
    return list(rows[:size])


def legal_team_members() -> QuerySet:
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(
            groups__name__in=policies.roles_with(policies.Capability.REVIEW), is_active=True
        )
        .distinct()
        .order_by("full_name")
    )


def emergency_approvals_waiting(user, *, limit: int = 50) -> list[LegalRequest]:
    """Open emergency requests no lead has approved yet, soonest due first, for the lead
    dashboard; `ready` is True once the latest call-back confirmed it (the approval may then be
    given, policies._approve), False while the call-back is still to be made."""
    _legal_team_or_404(user)
    latest_outcome = (
        CallbackVerification.objects.filter(request=OuterRef("pk"))
        .order_by("-at")
        .values("outcome")[:1]
    )
    rows = list(
        LegalRequest.objects.filter(status__in=OPEN_STATUSES, is_emergency=True)
        .exclude(Exists(DisclosureApproval.objects.filter(request=OuterRef("pk"))))
        .select_related("authority")
        .annotate(callback_outcome=Subquery(latest_outcome))
        .order_by(F("due_at").asc(nulls_last=True), "pk")[:limit]
    )
    for row in rows:
        row.ready = row.callback_outcome == CallbackVerification.Outcome.CONFIRMED
    return rows
