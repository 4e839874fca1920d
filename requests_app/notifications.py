"""The outbox: e-mails queued as Notification rows in the caller's transaction and delivered by
Celery after commit (see the model's docstring and docs/deadlines.md).

It knows nothing of deadline alerts. The one thing about an alert that is decided when it is
sent (is it still relevant, what time is left) is asked of a send-time hook that the alerts
register per alert kind when the app is ready (`send_time_hook_register`).

Never the sensitive content of a request in an e-mail: the reference, the instrument, the status,
the time left and a link to the portal, nothing more.
"""

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from portal.emails import absolute_url, build_email, local_time
from portal.logs import reference_bound
from portal.mail import batch_connection

from . import instruments, roles
from .models import LegalRequest, Notification, Status
from .outbox import Outbox, retry_delay

logger = logging.getLogger(__name__)
State = Notification.State
# A send holds its row this long; after that, the sweep takes the worker for dead.
LEASE = timedelta(seconds=getattr(settings, "PORTAL_NOTIFICATION_LEASE_SECONDS", 300))
# The Celery task that delivers a batch of rows (requests_app/tasks.py), named rather than
# imported: the tasks call the outbox, never the other way round.
DELIVER_TASK = "requests_app.tasks.deliver_notifications"
# Rows per delivery task: one claim, one SMTP session and a few queries for the batch, while
# the worker's processes still share a burst between them.
DELIVERY_BATCH = 50


# --- Queueing ---------------------------------------------------------------------------------


@dataclass
class Email:
    """An e-mail to queue. `key` is unique: queueing a key again does nothing (a retried
    service, a second sweep). The alert fields tell the send-time hook what to check."""

    key: str
    recipients: list[str]
    template: str
    context: dict = field(default_factory=dict)
    legal_request: LegalRequest | None = None
    language: str = "en"
    alert_kind: str = ""
    threshold: int | None = None
    deadline_version: int | None = None
    due_at: datetime | None = None


def notifications_enqueue(emails: Iterable[Email]) -> list[Notification]:
    """Queue e-mails inside the caller's transaction, each key once; hand the new rows to Celery
    after commit, DELIVERY_BATCH rows a task. Returns the rows this call created.

    The one way anything is queued: the services' notices, the deadline alerts (one request or
    a sweep's thousand at once) and the leads' digest. A second insert of a key, by another
    sweep or a retried task, is skipped by the database (ON CONFLICT DO NOTHING)."""
    rows: dict[str, dict] = {}
    for email in emails:
        recipients = sorted({r for r in email.recipients if r})
        if not recipients:
            logger.error("e-mail %s has no recipient: nothing queued", email.key)
            continue
        rows[email.key] = {
            "key": email.key,
            "request": email.legal_request,
            "recipients": recipients,
            "template": email.template,
            "context": email.context,
            "language": email.language,
            "alert_kind": email.alert_kind,
            "threshold": email.threshold,
            "deadline_version": email.deadline_version,
            "due_at": email.due_at,
        }
    if not rows:
        return []
    ids = _insert_new(list(rows.values()))
    created = [Notification(pk=ids[key], **row) for key, row in rows.items() if key in ids]
    pks = [row.pk for row in created]
    if pks:
        # robust: a broker that is down must not undo what committed; the outbox sweep hands
        # the rows out again.
        transaction.on_commit(lambda: notifications_hand_off(pks), robust=True)
    return created


def _insert_new(rows: list[dict]) -> dict[str, int]:
    """Insert the rows not queued yet (their key, or their alert, is new); the ids of the rows
    this call inserted, by key.

    On PostgreSQL one INSERT ... SELECT FROM jsonb_to_recordset(one JSON array) ON CONFLICT DO
    NOTHING RETURNING: the database itself says which rows it inserted, and a sweep's thousand
    rows cost one JSON dump, where bulk_create had Django prepare and psycopg quote 19,000 values
    (half of a sweep's time, docs/performance.md). Elsewhere (the embedded SQLite default)
    bulk_create, and the keys read back."""
    if connection.vendor != "postgresql":
        keys = [row["key"] for row in rows]
        before = set(Notification.objects.filter(key__in=keys).values_list("key", flat=True))
        new = [Notification(**row) for row in rows if row["key"] not in before]
        Notification.objects.bulk_create(new, ignore_conflicts=True)
        return dict(
            Notification.objects.filter(key__in=[n.key for n in new]).values_list("key", "pk")
        )
    # The model's defaults for the columns an Email does not set (state, times, counters).
    defaults = {f.column: f.get_default() for f in _insert_fields()}
    records = []
    for row in rows:
        record = {**defaults, **row}
        legal_request = record.pop("request")
        record["request_id"] = legal_request.pk if legal_request else None
        records.append(record)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), [json.dumps(records, default=_json_value)])
        return dict(cursor.fetchall())


def _insert_fields() -> list:
    return [f for f in Notification._meta.concrete_fields if not f.primary_key]


@functools.cache
def _insert_sql() -> str:
    # Names and types from the model; the one value is a parameter.
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in _insert_fields())
    typed = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in _insert_fields())
    return (
        f"INSERT INTO {quote(Notification._meta.db_table)} ({names}) SELECT {names}"  # noqa: S608  # nosec B608
        f" FROM jsonb_to_recordset(%s::jsonb) AS x({typed})"
        " ON CONFLICT DO NOTHING RETURNING key, id"
    )


def _json_value(value):
    # Full precision (DjangoJSONEncoder would cut datetimes to milliseconds).
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be queued as JSON")


# Publish the delivery of rows, DELIVERY_BATCH a task (after commit, and from the outbox sweep),
# by the outboxes' shared rule (outbox.py). Redis holds nothing the database does not: a lost
# task loses no e-mail.
notifications_hand_off = Outbox(
    model=Notification, task=DELIVER_TASK, lease=LEASE, batch=DELIVERY_BATCH
).hand_off


# --- The send-time hook -----------------------------------------------------------------------

# Given rows of one alert kind, the context each is to be sent with now, or None for a row that
# no longer applies (cancelled, not sent). May raise: the rows are then asked one by one, so a
# bad row fails alone.
SendTimeHook = Callable[[list[Notification]], dict[int, dict | None]]
_send_time_hooks: dict[str, SendTimeHook] = {}


def send_time_hook_register(kind: str, hook: SendTimeHook) -> None:
    """Called at app start (RequestsAppConfig.ready) for each alert kind checked at send time.
    A row of a kind without a hook is sent as queued, with its stored context."""
    _send_time_hooks[kind] = hook


# --- Reads ------------------------------------------------------------------------------------


def notifications_failing() -> QuerySet[Notification]:
    """The one definition of an e-mail that keeps failing: PORTAL_ALERT_FAILURE_BANNER attempts
    or more and not sent yet. The outbox marks such a row failed when the attempt fails, and
    it is still retried; while a retry is under way the row is "sending" with that many
    attempts. The leads' banner, their dashboard, the daily digest and /healthz all count
    this; each branch is served by a partial index (notification_failed_due,
    notification_sending_lease), so the count never reads the sent e-mails."""
    return Notification.objects.filter(
        Q(state=State.FAILED)
        | Q(state=State.SENDING, attempts__gte=settings.PORTAL_ALERT_FAILURE_BANNER)
    )


def notifications_due(limit: int = 500) -> list[int]:
    """Pending rows whose time has come, sending rows whose lease ran out (a crashed send) and
    failed rows whose retry has come (after the others: a bad row never crowds them out)."""
    now = timezone.now()
    pending = Notification.objects.filter(state=State.PENDING, send_after__lte=now)
    stale = Notification.objects.filter(state=State.SENDING, lease_until__lt=now)
    failed = Notification.objects.filter(state=State.FAILED, send_after__lte=now)
    return [
        *pending.values_list("pk", flat=True)[:limit],
        *stale.values_list("pk", flat=True)[:limit],
        *failed.values_list("pk", flat=True)[:limit],
    ]


# --- What an e-mail about a request says ------------------------------------------------------


def request_url_for(user, legal_request: LegalRequest) -> str:
    """The page of this request that this user can open; every e-mail about a request links
    there. The legal team works on the review page; the authority's officers follow the request
    on theirs. Each page is a 404 for the other audience: an URGENT alert must not cost the
    reviewer the minutes it takes to find the request by hand."""
    if user is not None and roles.is_legal_team(user):
        return absolute_url(reverse("review:detail", args=[legal_request.public_id]))
    return absolute_url(reverse("requests:detail", args=[legal_request.public_id]))


def notice_context(
    legal_request: LegalRequest, *, language: str = "en", time_zone: str = "UTC"
) -> dict:
    """What an e-mail about a request may say: never its content. Labels in the recipient's
    language and the deadline in their time zone (the outbox row keeps them as text)."""
    left = legal_request.time_left()
    with translation.override(language):
        return {
            "reference": legal_request.reference,
            "instrument": str(instruments.rule_for(legal_request.instrument).label),
            "status": str(Status(legal_request.status).label),
            "emergency": instruments.is_emergency(
                legal_request.instrument, legal_request.is_emergency
            ),
            "due_at": local_time(legal_request.due_at, time_zone) if legal_request.due_at else "",
            # The legal time limit beside the internal target (due_at); "" with legal_limit_fixed
            # False where the law sets none ("without undue delay").
            "legal_due_at": (
                local_time(legal_request.legal_due_at, time_zone)
                if legal_request.legal_due_at
                else ""
            ),
            "legal_limit_fixed": instruments.is_known(legal_request.instrument)
            and instruments.rule_for(legal_request.instrument).legal_period_for(
                emergency=legal_request.is_emergency
            )
            is not None,
            "time_left": format_duration(left) if left is not None else "",
            "authority": legal_request.authority.name_en,
            "country": legal_request.authority.country,
        }


def format_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    overdue = minutes < 0
    minutes = abs(minutes)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [gettext("%(days)s d") % {"days": days}] if days else []
    if hours or days:
        parts.append(gettext("%(hours)s h") % {"hours": hours})
    parts.append(gettext("%(minutes)s min") % {"minutes": mins})
    text = " ".join(parts)
    return gettext("overdue by %(duration)s") % {"duration": text} if overdue else text


# --- Delivery ---------------------------------------------------------------------------------


def notifications_deliver(notification_ids: Sequence[int]) -> int:
    """Deliver a batch of rows; returns how many this call sent. Safe to call twice at once,
    or after a crash: only the holder of an unexpired lease sends a row.

    1. Claim the rows that are due and not held (FOR UPDATE SKIP LOCKED, then one UPDATE):
       each gets a lease and one more attempt. Of the rows whose lease had run out (their
       worker died), the one that may have been in flight is flagged first: perhaps the SMTP
       server took it already, so this send may be the one allowed duplicate.
    2. Ask the send-time hook of each alert kind, once for the batch, which rows still apply
       and what they say now; the others are cancelled.
    3. Look up the recipients' accounts and the requests' pages once for the batch.
    4. Over one SMTP connection, build and send each row's messages and mark it sent at once.
       A row that raises (a corrupt row, a missing template, no valid address, a refusal by
       the server) is recorded and retried with backoff, and the next row is sent.
    5. Rows not reached within half the lease go back to pending and are handed out again, so
       a lease never runs out under a live worker.
    """
    started = time.monotonic()
    claimed = _claim(notification_ids)
    if not claimed:
        return 0
    rows = _load(claimed)
    contexts = _send_time_contexts(rows)
    cancelled = [pk for pk, context in contexts.items() if context is None]
    if cancelled:
        Notification.objects.filter(pk__in=cancelled, state=State.SENDING).update(
            state=State.CANCELLED, lease_until=None
        )
    to_send = [row for row in rows if contexts.get(row.pk) is not None]
    links = _Links(to_send)
    sent = 0
    mail = batch_connection()
    budget = min(60.0, LEASE.total_seconds() / 2)
    try:
        for n, row in enumerate(to_send):
            if time.monotonic() - started > budget:
                _release([r.pk for r in to_send[n:]])
                break
            sent += _deliver_one(row, contexts[row.pk], links, mail)
    finally:
        _close_quietly(mail)
    return sent


def _claim(notification_ids: Sequence[int]) -> list[int]:
    now = timezone.now()
    claimable = Q(state__in=[State.PENDING, State.FAILED], send_after__lte=now) | Q(
        state=State.SENDING, lease_until__lt=now
    )
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(claimable, pk__in=list(notification_ids))
            .order_by("pk")
            .values_list("pk", "state", "lease_until")
        )
        if not rows:
            return []
        in_flight = _maybe_sent_before_crash(rows)
        if in_flight:
            Notification.objects.filter(pk__in=in_flight).update(recovered_after_crash=True)
        claimed = [pk for pk, _, _ in rows]
        Notification.objects.filter(pk__in=claimed).update(
            state=State.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1
        )
    return claimed


def _maybe_sent_before_crash(rows: list[tuple[int, str, datetime | None]]) -> list[int]:
    """Of the rows whose lease ran out (their worker died), the ones the SMTP server may have
    taken already: the first still "sending" of each dead claim, and only it. A claim sends
    its rows one at a time in pk order and marks each sent (or failed) before it starts the
    next, so the rows before that one are recorded and the rows after it were never started.
    A claim is known by its lease's end, one timestamp per claim. When the sweep hands a dead
    claim out again in several tasks, each part's first row is flagged: a count that errs on
    the safe side, and still one row per part, not the whole batch the claim held."""
    first_of_claim: dict[datetime | None, int] = {}
    for pk, state, lease_until in rows:  # in pk order
        if state == State.SENDING:
            first_of_claim.setdefault(lease_until, pk)
    return list(first_of_claim.values())


def _load(claimed: list[int]) -> list[Notification]:
    """The claimed rows, in one query; one by one if that fails (a row that cannot be read is
    recorded alone)."""
    try:
        by_pk = Notification.objects.in_bulk(claimed)
        return [by_pk[pk] for pk in claimed if pk in by_pk]
    except Exception:
        logger.exception("outbox: the batch could not be read in one query, row by row")
    rows = []
    for pk in claimed:
        try:
            rows.append(Notification.objects.get(pk=pk))
        except Exception as exc:
            _record_send_failure(pk, exc)
    return rows


def _send_time_contexts(rows: list[Notification]) -> dict[int, dict | None]:
    """Each row's context at send time: the hook's answer for its alert kind, else the stored
    context. A row the hook raises on is recorded and left out (neither sent nor cancelled)."""
    contexts: dict[int, dict | None] = {}
    by_kind: dict[str, list[Notification]] = {}
    for row in rows:
        hook = _send_time_hooks.get(row.alert_kind) if row.alert_kind else None
        if hook is None:
            contexts[row.pk] = row.context if isinstance(row.context, dict) else {}
        else:
            by_kind.setdefault(row.alert_kind, []).append(row)
    for kind, kind_rows in by_kind.items():
        hook = _send_time_hooks[kind]
        try:
            answers = hook(kind_rows)
            contexts.update({row.pk: answers[row.pk] for row in kind_rows})
            continue
        except Exception:
            logger.warning("send-time hook for %s failed on a batch, row by row", kind)
        for row in kind_rows:
            try:
                contexts[row.pk] = hook([row])[row.pk]
            except Exception as exc:
                _record_send_failure(row.pk, exc)
    return contexts


class _Links:
    """The page each recipient can open, for a batch: the accounts of every address and the
    requests' public ids, looked up once."""

    def __init__(self, rows: list[Notification]) -> None:
        emails = {
            address.lower()
            for row in rows
            if isinstance(row.recipients, list)
            for address in row.recipients
            if isinstance(address, str)
        }
        # The role check reads a user's groups once and keeps them on the user object: one
        # query per member of the team per batch, not per row.
        users = get_user_model().objects.filter(email__in=emails, is_active=True)
        self.users = {user.email.lower(): user for user in users}
        request_ids = {row.request_id for row in rows if row.request_id}
        self.requests = LegalRequest.objects.only("pk", "public_id", "reference").in_bulk(
            request_ids
        )
        # Each address's audience and each request's page per audience, worked out once per
        # batch: the same team is on most rows (the profile of a burst had URL reversing and
        # role checks for every recipient of every row as a fifth of the delivery).
        self._audience: dict[str, bool] = {}
        self._links: dict[tuple[int, bool], str] = {}
        self.valid_addresses: set[str] = set()

    def groups(self, recipients: list[str], request_id: int) -> dict[str, list[str]]:
        """The recipients grouped by the link each can open (one message per group). An
        address with no active account gets the authority's page, which asks for a login."""
        legal_request = self.requests[request_id]
        groups: dict[str, list[str]] = {}
        for email in recipients:
            key = email.lower()
            if key not in self._audience:
                user = self.users.get(key)
                self._audience[key] = user is not None and roles.is_legal_team(user)
            legal_team = self._audience[key]
            if (request_id, legal_team) not in self._links:
                user = self.users.get(key) if legal_team else None
                self._links[request_id, legal_team] = request_url_for(user, legal_request)
            groups.setdefault(self._links[request_id, legal_team], []).append(email)
        return groups


def _deliver_one(row: Notification, context: dict, links: _Links, mail) -> int:
    legal_request = links.requests.get(row.request_id) if row.request_id else None
    # The lines about this row (a failure, a skipped address) name its request's reference.
    with reference_bound(legal_request.reference if legal_request else None):
        return _deliver_row(row, context, links, mail)


def _deliver_row(row: Notification, context: dict, links: _Links, mail) -> int:
    message_id = f"<{row.key.replace(':', '.')}@{_mail_domain()}>"
    try:
        # Everything that reads the row can raise on a bad one (a corrupt row, a missing
        # template, a malformed address): recorded on this row, retried, and the next is sent.
        row.recipients = _deliverable_recipients(row, links.valid_addresses)
        messages = _messages(row, context, links, message_id)
        mail.open()  # no-op while the batch's connection is open
        mail.send_messages(messages)
    except Exception as exc:
        _record_send_failure(row.pk, exc)
        # The session may be unusable (a dropped connection, a server that gave up): the next
        # row opens a new one.
        _close_quietly(mail)
        return 0
    _record_sent(row.pk, message_id)
    return 1


def _messages(row: Notification, context: dict, links: _Links, message_id: str) -> list:
    """The row's messages; one about a request goes out once per link, so that each recipient
    gets the page they can open (a preservation notice reaches the legal team and the
    officer). Every message is built before any is sent: a template error sends nothing."""
    if row.request_id is None:
        batches = [(row.recipients, context)]
    else:
        batches = [
            (to, {**context, "link": link})
            for link, to in links.groups(row.recipients, row.request_id).items()
        ]
    return [
        build_email(
            to=to,
            template=row.template,
            context=batch_context,
            language=row.language,
            headers={"Message-ID": message_id if n == 0 else message_id.replace("@", f".{n}@")},
        )
        for n, (to, batch_context) in enumerate(batches)
    ]


def _deliverable_recipients(notification: Notification, known_good: set[str]) -> list[str]:
    """The row's well-formed addresses. One malformed address (a bad manual edit) must not keep
    an alert from the rest of the team: it is skipped, logged and noted on the row; a row with
    no deliverable address at all fails (and is retried, in case it is corrected)."""
    recipients = notification.recipients
    if not isinstance(recipients, list):
        raise ValueError(f"recipients is not a list: {recipients!r}"[:300])
    good, bad = [], []
    for address in recipients:
        if isinstance(address, str) and address in known_good:
            good.append(address)
            continue
        try:
            validate_email(address)
            good.append(address)
            known_good.add(address)
        except ValidationError:
            bad.append(address)
    if bad:
        if not good:
            raise ValueError(f"no valid recipient address: {bad!r}"[:300])
        logger.error("notification %s: skipped malformed addresses %r", notification.key, bad)
        Notification.objects.filter(pk=notification.pk).update(
            last_error=f"Skipped malformed addresses: {bad!r}"[:500]
        )
    return good


def _record_send_failure(notification_id: int, exc: Exception) -> None:
    """Back off (30 s, 1 min, 2 min... at most an hour) and keep trying: an e-mail is never
    dropped. From PORTAL_ALERT_FAILURE_BANNER attempts on the row is marked failed (still
    retried): see notifications_failing()."""
    row = Notification.objects.filter(pk=notification_id).values("key", "attempts").first()
    if row is None:
        return
    attempts = row["attempts"]
    retry_in = retry_delay(attempts)
    failing = attempts >= settings.PORTAL_ALERT_FAILURE_BANNER
    Notification.objects.filter(pk=notification_id).update(
        state=State.FAILED if failing else State.PENDING,
        lease_until=None,
        send_after=timezone.now() + retry_in,
        last_error=f"{type(exc).__name__}: {exc}"[:500],
    )
    logger.warning("notification %s failed (attempt %s): %s", row["key"], attempts, exc)


def _record_sent(notification_id: int, message_id: str) -> None:
    """Mark the row sent. The message is gone already: if the database connection dropped
    during the send (a failover, a killed backend), reconnect and record it, rather than leave
    the row "sending" for the sweep to take for a crash and send again."""
    for retry in range(3):
        try:
            # One plain statement per row, not a queryset compiled per row: it is the only
            # query of a row's send, and a burst runs it ten thousand times.
            with connection.cursor() as cursor:
                cursor.execute(
                    _MARK_SENT, [State.SENT, timezone.now(), message_id, notification_id]
                )
            return
        except (InterfaceError, OperationalError) as exc:
            if retry == 2 or connection.in_atomic_block:
                raise
            logger.warning("notification %s sent, recording it again: %s", notification_id, exc)
            connection.close()
            time.sleep(retry)


_MARK_SENT = (
    f"UPDATE {Notification._meta.db_table} SET state = %s, sent_at = %s, lease_until = NULL,"  # noqa: S608  # nosec B608
    " message_id = %s WHERE id = %s"
)


def _release(pks: list[int]) -> None:
    """Give back rows this worker claimed but did not reach in time: pending again, the attempt
    not counted, handed out again."""
    released = Notification.objects.filter(pk__in=pks, state=State.SENDING).update(
        # Back to the state it was claimed from: failed if it had been failing already.
        state=Case(
            When(attempts__gt=settings.PORTAL_ALERT_FAILURE_BANNER, then=Value(State.FAILED)),
            default=Value(State.PENDING),
        ),
        lease_until=None,
        attempts=F("attempts") - 1,
    )
    logger.info("outbox: %s row(s) released to another delivery", released)
    notifications_hand_off(pks)


def _close_quietly(mail) -> None:
    try:
        mail.close()
    except Exception:
        logger.warning("outbox: closing the SMTP connection failed", exc_info=True)


def deliver_all_due() -> int:
    """Deliver every due notification in this process (tests use it). A batch that raises even
    past its rows' own failure handling is logged and the loop goes on."""
    sent = 0
    due = notifications_due()
    for start in range(0, len(due), DELIVERY_BATCH):
        try:
            sent += notifications_deliver(due[start : start + DELIVERY_BATCH])
        except Exception:
            logger.exception("notifications %s could not be delivered", due[start:][:3])
    return sent


def _mail_domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1] or "portal.localhost"
