"""The legal team's lists as a reader sees them (issue 17): the lead dashboard's counts lead to
the queue, durations in hours and minutes, outcomes by their labels, the CSV named by its
period; the queue sorted by a column, its authority filter a list, its countdown from a static
script, and every cell of the queue and of the officer's list labelled for the stacked rows
of a phone."""

import csv
import io
import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from authorities.constants import Instrument
from requests_app.selectors import QUEUE_SORTS, QueueFilters, review_queue
from tests.conftest import verified_login
from tests.requests_app.test_review import act, new_request, produced_file

pytestmark = pytest.mark.django_db

CELL = re.compile(r"<td\b[^>]*>")


def body_cells(page: str) -> list[str]:
    """The opening tags of the cells of the page's first table body."""
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    return CELL.findall(body)


def test_dashboard_links_counts_shows_durations_and_outcome_labels(
    client, officer, outsider, reviewer, lead
):
    with time_machine.travel("2026-10-05 10:00Z", tick=False):
        late = new_request(client, officer, Instrument.TCO_REMOVAL)
        answered = new_request(client, outsider, Instrument.EPOC)
        verified_login(client, reviewer)
        act(client, answered, "accept")
    with time_machine.travel("2026-10-05 12:05Z", tick=False):
        verified_login(client, reviewer)
        act(client, answered, "respond", {"files": [produced_file()]})
        act(client, late, "assign", {"assignee": reviewer.pk})
        verified_login(client, lead)
        page = client.get(
            reverse("review:dashboard"), {"start": "2026-10-01", "end": "2026-10-31"}
        ).content.decode()
        response = client.get(
            reverse("review:report_csv"), {"start": "2026-10-01", "end": "2026-10-31"}
        )
    queue = reverse("review:queue")
    # The reviewer's load links to the queue filtered on them (and on emergencies).
    assert f'href="{queue}?assignee={reviewer.pk}">1</a>' in page
    assert f'href="{queue}?assignee={reviewer.pk}&amp;emergency=1">0</a>' in page
    assert f'<a href="{queue}"><strong id="fig-overdue">1</strong></a>' in page
    # Answered in 2 h 05: hours and minutes, not 2.08 (hours).
    assert "2 h 5 min" in page
    assert "2.08" not in page and "(hours)" not in page
    # Outcomes by their labels.
    assert "<td>Responded</td>" in page and "<td>Open</td>" in page
    assert "<td>responded</td>" not in page
    # The CSV keeps its English codes and is named by the period, both days included.
    assert response["Content-Disposition"] == (
        'attachment; filename="transparency-2026-10-01_2026-10-31.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["DE", "European Production Order (EPOC)", "responded", "1"] in rows


def test_queue_sorts_by_a_column_and_pages_through_every_request_once(
    client, officer, outsider, reviewer
):
    made = []
    for day, instrument in enumerate(
        [Instrument.INQUIRY, Instrument.EPOC, Instrument.TCO_REMOVAL, Instrument.INQUIRY] * 2
    ):
        with time_machine.travel(f"2026-11-{10 + day:02d} 09:00Z", tick=False):
            made.append(new_request(client, officer if day % 2 else outsider, instrument))
    verified_login(client, reviewer)
    for sort, (column, descending) in QUEUE_SORTS.items():
        seen, cursor = [], None
        while True:
            page = review_queue(reviewer, QueueFilters(sort=sort), cursor=cursor, size=3)
            seen.extend(page.rows)
            cursor = page.next_cursor
            if not cursor:
                break
        assert len(seen) == len({r.pk for r in seen}) == len(made), sort
        values = [getattr(r, column) for r in seen]
        assert values == sorted(values, reverse=descending), sort
    # The page: the header links keep the filters and flip the order.
    page = client.get(reverse("review:queue"), {"sort": "-received", "country": "FR"})
    text = page.content.decode()
    assert 'aria-sort="descending"' in text
    assert "?country=FR&amp;sort=received" in text
    shown = list(dict.fromkeys(re.findall(r"LR-\d{4}-\d{6}", text)))
    french = [r for r in made if r.authority.country == "FR"]
    french.sort(key=lambda r: r.received_at, reverse=True)
    assert len(french) == 4 and shown == [r.reference for r in french]
    # An order the queue does not know falls back to the deadline order.
    assert client.get(reverse("review:queue"), {"sort": "officer__password"}).status_code == 200


def test_queue_authority_filter_is_a_list_and_cells_are_labelled(client, officer, reviewer):
    legal_request = new_request(client, officer, Instrument.EPOC)
    verified_login(client, reviewer)
    page = client.get(reverse("review:queue")).content.decode()
    assert '<select id="f-authority" name="authority">' in page
    assert f'<option value="{officer.authority_id}">' in page
    chosen = client.get(reverse("review:queue"), {"authority": officer.authority_id})
    assert f'<option value="{officer.authority_id}" selected>' in chosen.content.decode()
    assert legal_request.reference in chosen.content.decode()
    # Every cell carries its column's label (the stacked rows of a phone show it).
    cells = body_cells(page)
    assert len(cells) == 9
    assert all("data-label=" in cell for cell in cells)
    assert sum('class="date"' in cell for cell in cells) == 3
    # The countdown: data-due on the time-left cell, and the script from /static/, not inline.
    due = legal_request.due_at.isoformat()
    assert f'<td data-label="Time left" class="time-left" data-due="{due}">' in page
    assert f'<script src="{static("js/queue.js")}" defer></script>' in page
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None
    assert 'data-left="%(duration)s left"' in page
    assert 'id="queue-reload" data-after="300" hidden' in page


def test_officer_list_cells_are_labelled(client, officer):
    new_request(client, officer, Instrument.EPOC)
    verified_login(client, officer)
    page = client.get(reverse("requests:list")).content.decode()
    assert '<table class="stacked">' in page
    cells = body_cells(page)
    # reference, case reference, instrument, status, received, due, time left
    assert len(cells) == 7
    assert all("data-label=" in cell for cell in cells)


def test_static_files_for_the_queue():
    static = Path(settings.BASE_DIR) / "static"
    css = (static / "css" / "portal.css").read_text()
    assert "td.date, td.time-left { white-space: nowrap; }" in css
    assert "content: attr(data-label)" in css
    script = (static / "js" / "queue.js").read_text()
    assert "data-due" in script or "dataset.due" in script
    assert "setInterval(tick, 30000)" in script
