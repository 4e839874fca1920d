"""A refused request form says each problem once (issue 17, "Nothing typed is lost"): the words
at the top, counted, each linked to its field; the field is marked and points back."""

import re

import pytest
from django.urls import reverse

from authorities.constants import Instrument
from requests_app.models import LegalRequest
from tests.conftest import verified_login
from tests.requests_app.helpers import VALID, pdf_upload, submit

pytestmark = pytest.mark.django_db


def _summary(html: str) -> str:
    start = html.index('id="refusal"')
    return html[start : html.index("</div>", start)]


def test_each_problem_is_said_once_at_the_top_with_a_link_to_its_field(client, officer):
    verified_login(client, officer)
    data = {**VALID[Instrument.EPOC], "period_start": "", "period_end": "2026-08-01"}
    html = submit(client, Instrument.EPOC, data, documents=[]).content.decode()
    summary = _summary(html)
    assert "<strong>The request was not submitted.</strong> 2 problems:" in summary
    period = "Give the time period the data concerns (from and to)."
    document = "Attach the signed European Production Order (EPOC) document (PDF)."
    for message in (period, document):
        assert html.count(message) == 1, message
        assert message in summary
    assert re.search(r'<li id="problem-1"><a href="#id_period_start">Period from</a>: ', summary)
    assert '<a href="#id_documents">Signed order document(s)</a>: ' in summary
    # The field is marked, described by its problem, and points back to it.
    period_input = re.search(r'<input[^>]*name="period_start"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in period_input
    assert 'aria-describedby="problem-1"' in period_input
    assert '<a href="#problem-1">See problem 1 at the top.</a>' in html
    assert 'class="errorlist' not in html  # no second copy beside the field


def test_a_problem_of_the_whole_request_is_said_once(client, officer):
    officer.authority.instruments = [Instrument.EPOC_PR]
    officer.authority.save(update_fields=["instruments"])
    verified_login(client, officer)
    html = submit(client, Instrument.EPOC).content.decode()
    message = "The registry does not list European Production Order (EPOC) among the instruments"
    assert html.count(message) == 1
    assert message in _summary(html)
    assert "1 problem:" in _summary(html)
    assert LegalRequest.objects.count() == 0


def test_a_draft_checked_before_submission_says_each_problem_once(client, officer):
    verified_login(client, officer)
    submit(client, Instrument.EPOC, {**VALID[Instrument.EPOC], "offence": ""}, action="draft")
    draft = LegalRequest.objects.get()
    url = reverse("requests:edit", args=[draft.public_id]) + "?check=1"
    html = client.get(url).content.decode()
    summary = _summary(html)
    assert "1 problem:" in summary
    assert html.count("European Production Order (EPOC) needs the offence.") == 1
    assert '<a href="#id_offence">Offence under investigation</a>: ' in summary


def test_a_bad_file_is_named_once(client, officer):
    verified_login(client, officer)
    bad = pdf_upload("not-a-pdf.pdf", b"MZ this is no document")
    html = submit(client, Instrument.EPOC, documents=[bad]).content.decode()
    # The file's own problem (named once), and nothing else said twice about the documents.
    assert html.count("not-a-pdf.pdf") == 2  # the problem, and the list of files to attach again
    assert html.count("not-a-pdf.pdf", html.index('id="reattach"')) == 1
