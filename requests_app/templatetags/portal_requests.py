import re

from django import template
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_noop, ngettext

from requests_app import instruments
from requests_app.forms import LANGUAGES as ORDER_LANGUAGES
from requests_app.holds import hold_text
from requests_app.models import (
    OPEN_STATUSES,
    Notification,
    RefusalGround,
    RequestEvent,
    Status,
)
from requests_app.notifications import format_duration
from requests_app.policies import submit_block
from requests_app.risk import stored_snapshot
from requests_app.views import emergency_choices

register = template.Library()

# Where a second factor's id (django-otp's persistent_id, "otp_totp.totpdevice/3") comes from.
_DEVICE_KINDS = {
    "django_otp_webauthn.": gettext_noop("Passkey"),
    "otp_totp.": gettext_noop("Authenticator app"),
    "otp_static.": gettext_noop("Backup code"),
}
# What an e-mail of the outbox is, by its template, for the leads' list of failing e-mails.
_EMAIL_KINDS = {
    "request_received": gettext_noop("Acknowledgment of receipt"),
    "request_status_changed": gettext_noop("Status changed"),
    "clarification_requested": gettext_noop("Clarification requested"),
    "clarification_answered": gettext_noop("Clarification answer"),
    "response_ready": gettext_noop("Response with produced data"),
    "enforcing_decision": gettext_noop("Decision of the enforcing authority"),
    "daily_digest": gettext_noop("Daily digest"),
}
_DELIVERED = re.compile(r"^Categories delivered: (?P<codes>[a-z_, ]+)\.\s*(?P<rest>.*)$", re.S)


@register.filter
def category_labels(codes) -> str:
    """Data categories by their names in the reader's language, never their codes."""
    return ", ".join(
        str(instruments.DataCategory(code).label)
        if code in instruments.DataCategory.values
        else code
        for code in codes or []
    )


@register.filter
def order_language(code: str) -> str:
    """The language an order is written in, by its name ("French"), not its code ("fr")."""
    return str(dict(ORDER_LANGUAGES).get(code, code))


@register.filter
def status_label(code: str) -> str:
    return str(Status(code).label) if code in Status.values else code


@register.filter
def device_label(persistent_id: str) -> str:
    """The kind of second factor a request was submitted with, and its number."""
    for prefix, label in _DEVICE_KINDS.items():
        if persistent_id.startswith(prefix):
            return f"{gettext(label)} (#{persistent_id.rpartition('/')[2]})"
    return persistent_id


@register.filter
def email_kind(row: dict) -> str:
    """A failing e-mail by what it is ("Deadline reached", "Status changed"), not by its
    template's file name; a template this list does not know yet by its name."""
    if row.get("alert_kind") in Notification.AlertKind.values and row["alert_kind"]:
        return str(Notification.AlertKind(row["alert_kind"]).label)
    label = _EMAIL_KINDS.get(row.get("template", ""))
    return gettext(label) if label else row.get("template", "")


@register.filter
def event_detail(event) -> str:
    """An event's detail in the reader's language. The record keeps it in English, with codes
    (a refusal's "data_not_stored: ...", the categories delivered): here the codes become their
    names, and a detail that is a label of the interface ("Clarification requested") is
    translated. Free text (a note, an explanation) is shown as written."""
    detail = event.detail
    if event.kind == RequestEvent.Kind.REFUSED:
        ground, colon, explanation = detail.partition(": ")
        if colon and ground in RefusalGround.values:
            return gettext("%(ground)s: %(explanation)s") % {
                "ground": RefusalGround(ground).label,
                "explanation": explanation,
            }
    if delivered := _DELIVERED.match(detail):
        categories = category_labels([code.strip() for code in delivered["codes"].split(",")])
        shown = gettext("Categories delivered: %(categories)s.") % {"categories": categories}
        return f"{shown} {delivered['rest']}".strip()
    return gettext(detail) if detail else detail


@register.simple_tag
def time_left_badge(legal_request, now=None):
    """Time left as text and colour (the text alone carries the meaning, for screen readers and
    colour-blind readers): overdue, under 1 hour, under 1 day, more."""
    if legal_request.status not in OPEN_STATUSES:
        return format_html('<span class="status-badge">{}</span>', gettext("No deadline running"))
    if legal_request.due_at is None:
        return format_html(
            '<span class="status-badge status-warn">{}</span>', gettext("Clock stopped")
        )
    left = legal_request.due_at - (now or timezone.now())
    seconds = left.total_seconds()
    if seconds < 0:
        css, text = "status-bad", format_duration(left)
    else:
        css = (
            "status-bad" if seconds < 3600 else ("status-warn" if seconds < 86400 else "status-ok")
        )
        text = gettext("%(duration)s left") % {"duration": format_duration(left)}
    return format_html('<span class="status-badge {}">{}</span>', css, text)


def has_legal_period(legal_request) -> bool:
    """Whether the law sets this request a fixed time limit (False for an instrument the rule
    table no longer knows: its page shows it without one)."""
    if not instruments.is_known(legal_request.instrument):
        return False
    rule = instruments.rule_for(legal_request.instrument)
    return rule.legal_period_for(emergency=legal_request.is_emergency) is not None


@register.simple_tag
def legal_limit(legal_request, short=False):
    """The legal time limit (legal_due_at) as the pages show it, in the reader's time zone: the
    instant it expires; "Clock stopped" while a clarification pause is open; where the law sets
    no fixed limit, "No fixed legal limit (without undue delay)" (`short`: "—", for the queue)."""
    if legal_request.legal_due_at is not None:
        return dateformat.format(timezone.localtime(legal_request.legal_due_at), "Y-m-d H:i T")
    if not has_legal_period(legal_request):
        return "—" if short else gettext("No fixed legal limit (without undue delay)")
    if legal_request.received_at is not None and legal_request.due_at is None:
        return gettext("Clock stopped")
    return "—"  # a draft


@register.filter
def duration(value) -> str:
    """A timedelta in days, hours and minutes ("6 h 5 min"), as the alerts and the queue say it."""
    return format_duration(value) if value is not None else "—"


@register.filter
def get_item(mapping, key):
    return mapping.get(key, 0)


def _minute(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


@register.filter(expects_localtime=True)
def to_minute(value) -> str:
    """A time as the lists show it, 2026-11-27 14:05, in the reader's time zone (Django converts
    it first, as for |date). |date:"Y-m-d H:i" parses its format on every call: twice a row, a
    fifth of the review queue's rendering time."""
    return _minute(value)


@register.simple_tag
def queue_row(legal_request, now):
    """The cells of one review-queue row, built in Python: as template markup, the cells
    of 50 rows were some 800 nodes and most of the queue's time (make bench,
    docs/performance.md). Everything is escaped by format_html."""
    emergency = (
        format_html(" <strong>{}</strong>", gettext("EMERGENCY"))
        if legal_request.is_emergency
        else ""
    )
    authority = legal_request.authority
    assignee = legal_request.assignee
    # (column label, class, content): the label goes into data-label, which the stacked rows
    # of a narrow screen show before each cell (static/css/portal.css); dates do not wrap.
    cells = [
        (
            gettext("Reference"),
            "",
            format_html(
                '<a href="{}">{}</a>{}{}',
                reverse("review:detail", args=[legal_request.public_id]),
                legal_request.reference,
                emergency,
                _risk_mark(legal_request),
            ),
        ),
        (gettext("Instrument"), "", legal_request.get_instrument_display()),
        (gettext("Authority"), "", f"{authority.name_en} ({authority.country})"),
        (gettext("Received"), "date", _minute(legal_request.received_at)),
        (gettext("Internal target"), "date", _minute(legal_request.due_at) or "—"),
        (
            gettext("Legal time limit"),
            "date",
            _minute(legal_request.legal_due_at) or legal_limit(legal_request, short=True),
        ),
        (gettext("Time left"), "time-left", time_left_badge(legal_request, now)),
        (
            gettext("Assignee"),
            "",
            (assignee.full_name if assignee else "") or gettext("Unassigned"),
        ),
        (gettext("Status"), "", _status_cell(legal_request, now)),
    ]
    # The page's script (static/js/queue.js) counts the time left down from data-due.
    due = (
        legal_request.due_at.isoformat()
        if legal_request.due_at and legal_request.status in OPEN_STATUSES
        else ""
    )
    return format_html_join(
        "",
        '<td data-label="{}"{}{}>{}</td>',
        (
            (
                label,
                format_html(' class="{}"', css) if css else "",
                format_html(' data-due="{}"', due) if css == "time-left" and due else "",
                cell,
            )
            for label, css, cell in cells
        ),
    )


def _status_cell(legal_request, now) -> str:
    held = hold_text(legal_request, now)
    if not held:
        return legal_request.get_status_display()
    return format_html(
        '{}<br><span class="status-badge status-warn">{}</span>',
        legal_request.get_status_display(),
        held,
    )


@register.simple_tag
def hold_note(legal_request, now=None) -> str:
    """ "On hold for the enforcing authority (IE) until …" (e-Evidence Art. 10(2)), or ""."""
    return hold_text(legal_request, now)


def _risk_mark(legal_request) -> str:
    """The mark of a request with risk signals at submission, from its stored count (no query
    per row): a flag and words, with the signals in the title for a reviewer who hovers."""
    count = legal_request.risk_signal_count
    if not count:
        return ""
    snapshot = stored_snapshot(legal_request)
    title = " ".join(s.text for s in snapshot.signals) if snapshot else ""
    return format_html(
        ' <span class="risk-mark" title="{}"><span aria-hidden="true">⚑</span> {}</span>',
        title,
        ngettext("%(count)s risk signal", "%(count)s risk signals", count) % {"count": count},
    )


@register.inclusion_tag("requests_app/_emergency_block.html")
def emergency_block(officer):
    """Emergency: threat to life, first and apart, on the officer's home (an authorities page:
    a tag, so that authorities imports nothing of requests_app)."""
    return {"emergency_choices": emergency_choices(officer), "blocked": submit_block(officer)}
