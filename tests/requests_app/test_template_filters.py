import re
from datetime import UTC, datetime, timedelta

from django.template import Context, Template
from django.utils import timezone

from authorities.constants import Instrument
from authorities.models import Authority
from requests_app.models import LegalRequest, Status
from requests_app.templatetags.portal_requests import legal_limit, queue_row

AT = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)


def render(value, zone: str) -> str:
    with timezone.override(zone):
        return Template("{% load portal_requests %}{{ at|to_minute }}").render(
            Context({"at": value})
        )


def test_times_in_lists_are_shown_in_the_readers_time_zone_to_the_minute():
    assert render(AT, "UTC") == "2026-07-01 22:30"
    assert render(AT, "Europe/Paris") == "2026-07-02 00:30"  # CEST: the next day
    assert render(AT, "Europe/Lisbon") == "2026-07-01 23:30"


def test_a_missing_time_is_empty_so_that_default_can_fill_it():
    assert render(None, "UTC") == ""


def test_a_queue_row_escapes_what_authorities_and_officers_wrote():
    authority = Authority(id="FR-X", name_en='<script>alert("x")</script>', country="FR")
    legal_request = LegalRequest(
        reference="LR-2026-000001",
        instrument=Instrument.EPOC,
        status=Status.IN_REVIEW,
        authority=authority,
        is_emergency=True,
        received_at=AT,
        due_at=AT + timedelta(hours=8),
        legal_due_at=AT + timedelta(hours=8, minutes=30),
    )

    with timezone.override("Europe/Paris"):
        row = queue_row(legal_request, now=AT)

    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert len(cells) == 9
    labels = re.findall(r'<td data-label="([^"]*)"', row)
    assert labels[6] == "Time left" and len(labels) == 9
    assert cells[0] == (
        f'<a href="/review/{legal_request.public_id}/">LR-2026-000001</a>'
        " <strong>EMERGENCY</strong>"
    )
    assert cells[2] == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; (FR)"
    assert cells[3:6] == ["2026-07-02 00:30", "2026-07-02 08:30", "2026-07-02 09:00"]
    assert cells[6] == '<span class="status-badge status-warn">8 h 0 min left</span>'
    assert cells[7] == "Unassigned"
    assert cells[1] == str(Instrument.EPOC.label) and cells[8] == str(Status.IN_REVIEW.label)


def test_the_legal_time_limit_as_the_pages_show_it():
    def request(instrument, **fields):
        return LegalRequest(instrument=instrument, status=Status.IN_REVIEW, **fields)

    epoc = request(Instrument.EPOC, received_at=AT, due_at=AT, legal_due_at=AT)
    with timezone.override("Europe/Paris"):
        assert legal_limit(epoc) == "2026-07-02 00:30 CEST"
    stopped = request(Instrument.EPOC, received_at=AT, due_at=None, legal_due_at=None)
    assert legal_limit(stopped) == "Clock stopped"
    inquiry = request(Instrument.INQUIRY, received_at=AT, due_at=AT)
    assert legal_limit(inquiry) == "No fixed legal limit (without undue delay)"
    assert legal_limit(inquiry, short=True) == "—"
    assert legal_limit(request("retired_instrument", received_at=AT, due_at=AT), True) == "—"


def test_authority_options_escape_the_names_and_select_exactly_the_chosen_one():
    from requests_app.templatetags.portal_requests import authority_options

    authorities = [("FR-1", "Parquet <b>1</b> (FR)"), ("FR-10", "Parquet 10 (FR)")]
    plain = authority_options(authorities, "")
    assert plain == (
        '<option value="FR-1">Parquet &lt;b&gt;1&lt;/b&gt; (FR)</option>'
        '<option value="FR-10">Parquet 10 (FR)</option>'
    )
    chosen = authority_options(authorities, "FR-10")
    assert chosen.count(" selected") == 1 and '<option value="FR-10" selected>' in chosen
    assert authority_options(authorities, "FR-1").count(" selected") == 1
    # An id not in the list (typed into the URL) selects nothing; a hostile one stays text.
    assert " selected" not in authority_options(authorities, '"><script>')
