"""The example client of docs/api.md (docs/examples/api_client.py), run as written against the
portal served on loopback: its main() submits a request with a document and waits for the
answer (told by a signed webhook, or read from the events feed), while this test plays the legal
team's part through its services and the worker's part in posting the webhooks; then it reads
the answer and downloads the delivery."""

import importlib.util
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from requests_app.api import webhooks
from requests_app.models import LegalRequest, Status
from requests_app.review import services as review_services
from tests.processes import ROOT, free_port, wait_for
from tests.requests_app.helpers import pdf_bytes

from .helpers import approved_client

# A server (pytest-django's live server, a thread of this process): left out by make check.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXAMPLE = ROOT / "docs" / "examples" / "api_client.py"


def load_example():
    spec = importlib.util.spec_from_file_location("api_client", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_quote_the_example_file_whole():
    docs = (ROOT / "docs" / "api.md").read_text()
    assert EXAMPLE.read_text().strip() in docs


@pytest.mark.parametrize("told_by", ["webhook", "events feed"])
def test_the_example_client_submits_reads_the_answer_and_downloads_it(
    told_by, live_server, officer, staff, reviewer, tmp_path, capsys, settings
):
    example = load_example()
    api_client, token = approved_client(officer, staff)
    receiver = None
    if told_by == "webhook":
        # The client's page registers the address and shows the secret once; here, its service.
        settings.PORTAL_WEBHOOKS_ALLOW_INSECURE_LOOPBACK = True
        port = free_port()
        _, secret = webhooks.webhook_endpoint_set(
            officer=officer, client=api_client, url=f"http://127.0.0.1:{port}/"
        )
        receiver = example.WebhookReceiver(secret, port)
    order = tmp_path / "order.pdf"
    order.write_bytes(pdf_bytes())
    into = tmp_path / "delivered"
    failed = []

    def case_system():
        try:
            example.main(live_server.url, token, order, into, receiver)
        except Exception as error:  # noqa: BLE001 - handed to the test's thread
            failed.append(error)

    client = threading.Thread(target=case_system, daemon=True)
    client.start()

    # The legal team's part, once the request has arrived: accept it and answer with a file.
    submitted = wait_for(
        lambda: LegalRequest.objects.filter(officer=officer, status=Status.SUBMITTED).first(),
        timeout=60,
    )
    assert submitted is not None, failed
    review_services.legal_request_accept(reviewer=reviewer, legal_request=submitted)
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=submitted,
        files=[SimpleUploadedFile("export.csv", b"subscriber,created\njane.doe,2024-03-01\n")],
    )
    if receiver is not None:
        # The worker's part (no Celery worker runs here): post what the outbox holds.
        assert webhooks.deliver_all_due() >= 1

    client.join(timeout=60)
    if receiver is not None:
        receiver.close()
    assert not client.is_alive() and not failed, failed
    printed = capsys.readouterr().out
    assert f"{submitted.reference}: submitted" in printed
    told = " (told by webhook)" if told_by == "webhook" else ""
    assert f"{submitted.reference}: responded{told}" in printed
    assert (into / "export.csv").read_bytes() == b"subscriber,created\njane.doe,2024-03-01\n"
