"""The receipt is owed at submission and sealed after commit (issue 18, the submission's
regression): the submission's transaction never seals; a worker issues it, the sweep hands out
what a lost task or a dead worker left owed, two workers never seal twice, and the sealed bytes
are never replaced. Until it is issued, the page and the API say it is being prepared."""

import hashlib
import threading
from datetime import timedelta

import pytest
import time_machine
from celery.signals import before_task_publish
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from requests_app import receipts, seal, tasks
from requests_app.models import AccessLog, LegalRequest, Notification, OwedReceipt, Receipt
from tests.api.helpers import approved_client, call
from tests.conftest import verified_login
from tests.requests_app.helpers import delivered_emails, submit

pytestmark = pytest.mark.django_db
State = OwedReceipt.State


class SealUnavailable(Exception):
    pass


@pytest.fixture
def published():
    """The tasks handed to the broker, (name, args), as a worker would receive them."""
    sent = []

    def note(sender=None, body=None, **kwargs):
        sent.append((sender, body[0] if body else None))

    before_task_publish.connect(note, weak=False)
    yield sent
    before_task_publish.disconnect(note)


@pytest.fixture
def seal_calls(monkeypatch):
    """Counts the seals made, each still made for real."""
    calls = []
    real = seal.seal_pdf

    def counting(*args, **kwargs):
        calls.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(seal, "seal_pdf", counting)
    return calls


def _broken_seal(monkeypatch):
    def unavailable(*args, **kwargs):
        raise SealUnavailable("the seal's key cannot be read")

    monkeypatch.setattr(seal, "seal_pdf", unavailable)


def _submit(client, officer) -> LegalRequest:
    verified_login(client, officer)
    assert submit(client, Instrument.EPOC).status_code == 302
    return LegalRequest.objects.get()


def test_submission_completes_with_the_seal_unavailable_and_the_task_issues_it_after(
    client, officer, monkeypatch, published
):
    """The submission's transaction does not seal: with the seal raising it still succeeds;
    the task handed out after commit issues the receipt once the seal is back."""
    _broken_seal(monkeypatch)

    legal_request = _submit(client, officer)

    assert legal_request.reference and legal_request.received_at
    assert not Receipt.objects.exists()
    owed = OwedReceipt.objects.get(request=legal_request)
    assert owed.state == State.PENDING and owed.attempts == 0
    # Handed to the broker after commit: the worker's task, with the owed row.
    assert (receipts.ISSUE_TASK, [[owed.pk]]) in published
    # The acknowledgment names the receipt: it waits for it.
    assert not Notification.objects.filter(template="request_received").exists()

    monkeypatch.undo()
    assert tasks.issue_receipts([owed.pk]) == 1

    receipt = Receipt.objects.get(request=legal_request)
    assert receipt.sha256 == hashlib.sha256(receipt.file.read()).hexdigest()
    owed.refresh_from_db()
    assert owed.state == State.ISSUED and owed.issued_at is not None and owed.attempts == 1
    [ack] = [m for m in delivered_emails(mail.outbox) if m.to == [officer.email]]
    assert receipt.sha256 in ack.body
    assert reverse("requests:receipt", args=[legal_request.public_id]) in ack.body


def test_while_owed_the_page_says_being_prepared_and_the_download_is_409(
    client, officer, monkeypatch
):
    _broken_seal(monkeypatch)
    legal_request = _submit(client, officer)
    detail = reverse("requests:detail", args=[legal_request.public_id])
    download = reverse("requests:receipt", args=[legal_request.public_id])

    page = client.get(detail).content.decode()
    assert "is being prepared" in page
    assert download not in page
    response = client.get(download)
    assert response.status_code == 409
    assert "being prepared" in response.content.decode()
    assert not AccessLog.objects.filter(action=AccessLog.Action.OPEN_ATTACHMENT).exists()

    monkeypatch.undo()
    receipts.receipts_issue_all_due()

    page = client.get(detail).content.decode()
    assert "is being prepared" not in page
    assert download in page and legal_request.receipt.sha256 in page
    assert client.get(download).status_code == 200


def test_an_owed_receipt_is_404_to_another_authority(client, officer, outsider, monkeypatch):
    _broken_seal(monkeypatch)
    legal_request = _submit(client, officer)
    verified_login(client, outsider)

    assert client.get(reverse("requests:receipt", args=[legal_request.public_id])).status_code == (
        404
    )


def test_the_api_read_says_being_prepared_then_gives_the_download(
    client, officer, staff, monkeypatch
):
    _broken_seal(monkeypatch)
    legal_request = _submit(client, officer)
    token = approved_client(officer, staff)[1]
    url = f"/api/v1/requests/{legal_request.public_id}/"

    read = call(client, "get", url, token).json()
    assert read["receipt"] == {
        "state": "being_prepared",
        "sha256": None,
        "sealed_at": None,
        "download": None,
    }
    owed_download = call(client, "get", f"{url}receipt/", token)
    assert owed_download.status_code == 409
    assert owed_download["Content-Type"] == "application/problem+json"

    monkeypatch.undo()
    receipts.receipts_issue_all_due()

    read = call(client, "get", url, token).json()
    receipt = Receipt.objects.get()
    assert read["receipt"]["state"] == "issued"
    assert read["receipt"]["sha256"] == receipt.sha256
    assert read["receipt"]["download"] == f"{url}receipt/"
    response = call(client, "get", read["receipt"]["download"], token)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == receipt.sha256
    listed = call(client, "get", "/api/v1/requests/", token).json()["results"]
    assert listed[0]["receipt"]["sha256"] == receipt.sha256


def test_a_failed_sealing_is_retried_with_backoff(client, officer, monkeypatch):
    _broken_seal(monkeypatch)
    legal_request = _submit(client, officer)
    owed = legal_request.owed_receipt

    assert receipts.receipts_issue([owed.pk]) == 0

    owed.refresh_from_db()
    assert owed.state == State.PENDING and owed.attempts == 1
    assert "SealUnavailable" in owed.last_error
    assert owed.send_after > timezone.now() + timedelta(seconds=25)
    assert owed.pk not in receipts.receipts_due()  # not before its backoff
    assert receipts.receipts_issue([owed.pk]) == 0  # a redelivered task waits too
    monkeypatch.undo()
    with time_machine.travel(owed.send_after + timedelta(seconds=1)):
        assert owed.pk in receipts.receipts_due()
        assert tasks.sweep_receipts() == 1
        assert receipts.receipts_issue([owed.pk]) == 1
    owed.refresh_from_db()
    assert owed.state == State.ISSUED and owed.attempts == 2 and owed.last_error == ""


def test_a_receipt_that_keeps_failing_fails_healthz_until_it_is_issued(
    client, officer, monkeypatch, settings
):
    _broken_seal(monkeypatch)
    owed = _submit(client, officer).owed_receipt
    for _ in range(settings.PORTAL_ALERT_FAILURE_BANNER):
        OwedReceipt.objects.filter(pk=owed.pk).update(send_after=timezone.now())
        assert receipts.receipts_issue([owed.pk]) == 0

    health = client.get(reverse("healthz"))
    assert health.status_code == 503
    assert health.json()["checks"]["receipts"] == "fail"
    assert health.json()["receipts_failing"] == 1

    monkeypatch.undo()
    OwedReceipt.objects.filter(pk=owed.pk).update(send_after=timezone.now())
    assert receipts.receipts_issue([owed.pk]) == 1
    assert client.get(reverse("healthz")).json()["checks"]["receipts"] == "ok"


def test_the_sweep_issues_a_receipt_whose_task_was_lost(client, officer, published):
    """The task handed out after commit never ran (a Redis flush): the row is the record, and
    the sweep hands it out again."""
    legal_request = _submit(client, officer)
    owed = legal_request.owed_receipt
    published.clear()  # the hand-off after commit is lost

    assert tasks.sweep_receipts() == 1

    [(name, [ids])] = [p for p in published if p[0] == receipts.ISSUE_TASK]
    assert ids == [owed.pk]
    assert tasks.issue_receipts(ids) == 1
    assert Receipt.objects.filter(request=legal_request).exists()
    assert tasks.sweep_receipts() == 0  # nothing owed any more


def test_a_receipt_whose_worker_died_while_sealing_is_issued_after_its_lease(client, officer):
    legal_request = _submit(client, officer)
    owed = legal_request.owed_receipt
    assert receipts.OUTBOX.claim([owed.pk]) == [owed.pk]  # a worker claims it, then dies

    assert owed.pk not in receipts.receipts_due()  # its lease still runs
    assert receipts.receipts_issue([owed.pk]) == 0  # a second worker does not take it
    with time_machine.travel(timezone.now() + receipts.LEASE + timedelta(seconds=1)):
        assert owed.pk in receipts.receipts_due()
        assert receipts.receipts_issue([owed.pk]) == 1
    assert Receipt.objects.filter(request=legal_request).count() == 1


def test_an_issued_receipt_is_never_sealed_again_nor_replaced(client, officer, seal_calls):
    legal_request = _submit(client, officer)
    receipts.receipts_issue_all_due()
    receipt = Receipt.objects.get()
    before = (receipt.sha256, receipt.file.name, receipt.file.read())
    assert len(seal_calls) == 1

    # A task delivered again, a sweep: nothing more to issue.
    assert receipts.receipts_issue([legal_request.owed_receipt.pk]) == 0
    # A worker whose lease ran out while it sealed finishes after another issued the receipt:
    # the one-to-one row refuses a second receipt, and the file it wrote is removed.
    stored = set(receipt.file.storage.listdir("receipts")[1])
    with pytest.raises(IntegrityError), transaction.atomic():
        receipts.receipt_issue(legal_request=legal_request)
    assert set(receipt.file.storage.listdir("receipts")[1]) == stored

    receipt = Receipt.objects.get()
    assert (receipt.sha256, receipt.file.name, receipt.file.read()) == before
    assert Notification.objects.filter(template="request_received").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_issuers_seal_one_receipt(client, officer, seal_calls):
    """Two workers handed the same row at the same instant (a redelivered task beside the
    sweep's): the lease lets one seal; the other finds nothing to do."""
    legal_request = _submit(client, officer)
    owed = legal_request.owed_receipt
    start = threading.Barrier(2)
    results = []

    def worker():
        try:
            start.wait()
            results.append(receipts.receipts_issue([owed.pk]))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results) == [0, 1]
    assert len(seal_calls) == 1
    assert Receipt.objects.filter(request=legal_request).count() == 1
    assert Notification.objects.filter(template="request_received").count() == 1
    owed.refresh_from_db()
    assert owed.state == State.ISSUED and owed.attempts == 1
