import functools
import re

from django import template
from django.urls import reverse
from django.utils import dateformat, timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_noop, ngettext

from authorities.second_factor import device_kind_label
from portal import kept_forms
from requests_app import instruments, selectors
from requests_app.forms import LANGUAGES as ORDER_LANGUAGES
from requests_app.holds import hold_text
from requests_app.lifecycle import in_english
from requests_app.models import (
    OPEN_STATUSES,
    CallbackVerification,
    EnforcingGround,
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

# What an e-mail of the outbox is, by its template, for the leads' list of failing e-mails.
_EMAIL_KINDS = {
    "request_received": gettext_noop("Acknowledgment of receipt"),
    "request_status_changed": gettext_noop("Status changed"),
    "clarification_requested": gettext_noop("Clarification requested"),
    "clarification_answered": gettext_noop("Clarification answer"),
    "response_ready": gettext_noop("Response with produced data"),
    "enforcing_decision": gettext_noop("Decision of the enforcing authority"),
    "daily_digest": gettext_noop("Daily digest"),
    "api_emergency_waiting": gettext_noop("Emergency from a case system awaiting confirmation"),
}


@register.filter
def order_language(code: str) -> str:
    """The language an order is written in, by its name ("French"), not its code ("fr")."""
    return str(dict(ORDER_LANGUAGES).get(code, code))


@register.filter
def email_kind(row: dict) -> str:
    """A failing e-mail by what it is ("Deadline reached", "Status changed"), not by its
    template's file name; a template this list does not know yet by its name."""
    if row.get("alert_kind") in Notification.AlertKind.values and row["alert_kind"]:
        return str(Notification.AlertKind(row["alert_kind"]).label)
    label = _EMAIL_KINDS.get(row.get("template", ""))
    return gettext(label) if label else row.get("template", "")


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


@register.simple_tag(takes_context=True)
def kept_form_field(context) -> str:
    """The hidden field by which a request form opts in to being kept when it is posted after
    the session ended (portal.kept_forms): signed for this account and this page."""
    return format_html(
        '<input type="hidden" name="{}" value="{}">',
        kept_forms.FIELD,
        kept_forms.hidden_value(context["request"]),
    )


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
def authority_options(authorities, selected: str) -> str:
    """The <option>s of the queue's authority filter, `selected` chosen. A registry holds a
    thousand authorities or more: as a template loop they were 8 ms of the queue page's 28
    (make bench at L), so the list's markup is built in Python once per list."""
    html = _authority_options(tuple(authorities))
    if selected:
        option = format_html('<option value="{}">', selected)
        html = html.replace(option, format_html('<option value="{}" selected>', selected), 1)
    # Every value in it was escaped by format_html_join and format_html: what replace() returns
    # is that markup, with one escaped option swapped for the same option selected.
    return mark_safe(html)  # noqa: S308  # nosec B308 B703


@functools.lru_cache(maxsize=4)
def _authority_options(authorities: tuple[tuple[str, str], ...]) -> str:
    return format_html_join("", '<option value="{}">{}</option>', authorities)


TIME_LEFT = 6  # the time-left cell's column in _queue_columns


@functools.lru_cache(maxsize=16)
def _queue_columns(language: str) -> tuple[str, ...]:
    """Each queue cell's opening tag, its column's label (in data-label: the stacked rows of a
    narrow screen show it before the cell, static/css/portal.css) in `language`, and its class
    (dates do not wrap). Translated once per language, not nine times a row."""
    columns = [
        (gettext_noop("Reference"), ""),
        (gettext_noop("Instrument"), ""),
        (gettext_noop("Authority"), ""),
        (gettext_noop("Received"), "date"),
        (gettext_noop("Internal target"), "date"),
        (gettext_noop("Legal time limit"), "date"),
        (gettext_noop("Time left"), "time-left"),
        (gettext_noop("Assignee"), ""),
        (gettext_noop("Status"), ""),
    ]
    with translation.override(language):
        return tuple(
            format_html(
                '<td data-label="{}"{}',
                gettext(label),
                format_html(' class="{}"', css) if css else "",
            )
            for label, css in columns
        )


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
    cells = [
        format_html(
            '<a href="{}">{}</a>{}{}',
            reverse("review:detail", args=[legal_request.public_id]),
            legal_request.reference,
            emergency,
            _risk_mark(legal_request),
        ),
        legal_request.get_instrument_display(),
        f"{authority.name_en} ({authority.country})",
        _minute(legal_request.received_at),
        _minute(legal_request.due_at) or "—",
        _minute(legal_request.legal_due_at) or legal_limit(legal_request, short=True),
        time_left_badge(legal_request, now),
        (assignee.full_name if assignee else "") or gettext("Unassigned"),
        _status_cell(legal_request, now),
    ]
    # The page's script (static/js/queue.js) counts the time left down from data-due.
    due = (
        legal_request.due_at.isoformat()
        if legal_request.due_at and legal_request.status in OPEN_STATUSES
        else ""
    )
    opening = _queue_columns(translation.get_language())
    if due:
        opening = [*opening]
        opening[TIME_LEFT] = format_html('{} data-due="{}"', opening[TIME_LEFT], due)
    return format_html_join("", "{}>{}</td>", zip(opening, cells, strict=True))


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


@register.simple_tag
def request_name(legal_request) -> str:
    """A request as the officer's pages name it: its reference; a draft, which has none yet, by
    its case reference ("Draft: PARQUET-2026-0042"), so that two drafts can be told apart."""
    if legal_request.status != Status.DRAFT and legal_request.reference:
        return legal_request.reference
    if legal_request.case_reference:
        return gettext("Draft: %(case)s") % {"case": legal_request.case_reference}
    return gettext("Draft (no case reference)")


@register.inclusion_tag("requests_app/_officer_agenda.html")
def officer_agenda(officer):
    """What waits for the officer, on their home (an authorities page: a tag, as above)."""
    now = timezone.now()
    return {"agenda": selectors.officer_agenda(officer, now=now), "now": now}


# --- Stored codes as words for people (the review page; tests/requests_app/test_review_page.py)


@register.filter
def category_labels(codes) -> str:
    """Data category codes as their labels, in the order given."""
    return ", ".join(_category_label(code) for code in codes or ())


def _category_label(code: str) -> str:
    category = instruments.DataCategory
    return str(category(code).label) if code in category.values else code


@register.filter
def status_label(code: str) -> str:
    return str(Status(code).label) if code in Status.values else code


@register.filter
def second_factor_label(device_id: str) -> str:
    """A second factor by its kind and number ("Authenticator app (#4)"), never its stored id."""
    if not device_id:
        return ""
    return f"{device_kind_label(device_id)} (#{device_id.rpartition('/')[2]})"


@register.filter
def web_address(value: str) -> str:
    """The value if it is a web address a link may point to (http or https only: never a
    javascript: link out of a registry file), else ""."""
    value = (value or "").strip()
    return value if re.match(r"https?://[^\s<>\"']+$", value, re.IGNORECASE) else ""


_REFUSAL = re.compile(r"^(?P<code>[a-z_]+): ", re.S)
_ENFORCING_GROUND = re.compile(r"(^|; )(?P<code>[a-z_]+) \((?P<categories>[^)]*)\): ")
_DELIVERED = re.compile(r"^Categories delivered: (?P<categories>[a-z_, ]+)\.")


# Details the services store in English with a value inside (a time, a reference): the words in
# the reader's language, the value as stored.
_WITH_A_VALUE = [
    (re.compile(r"^Preserved until (?P<value>\d.+)$"), gettext_noop("Preserved until %(value)s")),
    (
        re.compile(r"^Production request: (?P<value>.+)$"),
        gettext_noop("Production request: %(value)s"),
    ),
    (re.compile(r"^Copied from (?P<value>.+)$"), gettext_noop("Copied from %(value)s")),
]


@register.simple_tag
def event_detail(event, legal_request) -> str:
    """An event's stored detail (English, written by the services with codes in some kinds) as
    the reader's words: a refusal's ground, the enforcing authority's grounds and categories,
    the categories delivered, the enforcing authority's name instead of its registry id."""
    detail = event.detail
    Kind = RequestEvent.Kind
    if event.kind in (Kind.MESSAGE, Kind.AMENDMENT):
        return gettext(detail)
    if event.kind == Kind.REFUSED:
        return _REFUSAL.sub(
            lambda m: f"{_choice_label(RefusalGround, m['code'])}: ", detail, count=1
        )
    if event.kind == Kind.ENFORCING_GROUNDS:
        return _ENFORCING_GROUND.sub(
            lambda m: "{}{} ({}): ".format(
                m[1],
                _choice_label(EnforcingGround, m["code"]),
                category_labels([c.strip() for c in m["categories"].split(",") if c.strip()])
                if m["categories"] != "whole order"
                else gettext("the whole order"),
            ),
            detail,
        )
    if event.kind == Kind.ENFORCING_NO_GROUND and legal_request.enforcing_authority_id:
        prefix = f"{legal_request.enforcing_authority_id}: "
        if detail.startswith(prefix):
            return gettext("%(authority)s: no ground for refusal") % {
                "authority": legal_request.enforcing_authority.name_en
            }
    if event.kind == Kind.CALLBACK:
        for outcome in CallbackVerification.Outcome:
            english = in_english(outcome.label)
            if detail.startswith(english):
                return str(outcome.label) + detail[len(english) :]
    if event.kind == Kind.ASSIGNED and detail == "Unassigned":
        return gettext("Unassigned")
    if event.kind in (Kind.RESPONDED, Kind.PARTIALLY_RESPONDED):
        return _DELIVERED.sub(
            lambda m: (
                gettext("Categories delivered: %(categories)s.")
                % {"categories": category_labels([c.strip() for c in m["categories"].split(",")])}
            ),
            detail,
            count=1,
        )
    for pattern, words in _WITH_A_VALUE:
        if found := pattern.match(detail):
            return gettext(words) % {"value": found["value"]}
    # A detail that is a label of the interface ("Clarification requested") in the reader's
    # language; free text (a note, an explanation) is not in the catalogue and stays as written.
    return gettext(detail)


def _choice_label(choices, code: str) -> str:
    return str(choices(code).label) if code in choices.values else code


@register.simple_tag
def registry_source(authority) -> str:
    """Where the registry took an authority from: the official list, linked by its name when
    the reference is a web address (the address itself stays in the link)."""
    checked = dateformat.format(authority.source_checked, "Y-m-d")
    address = web_address(authority.source_reference)
    if not address:
        return gettext("Source: %(source)s — %(reference)s (checked %(checked)s).") % {
            "source": authority.source_list,
            "reference": authority.source_reference,
            "checked": checked,
        }
    link = format_html(
        '<a href="{}" rel="noopener noreferrer">{}</a>', address, authority.source_list
    )
    return format_html(
        gettext("Source: {source} (checked {checked})."), source=link, checked=checked
    )
