"""Custody of the files the portal holds (issue 18): encrypted at rest under a data key per file,
the keys re-wrapped by rotation, the files purged after their retention unless a lead holds them
(requests_app/custody.py, requests_app/retention.py; docs/security.md, "Custody")."""

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import pikepdf
import pytest
import time_machine
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from authorities.constants import Instrument
from requests_app import custody, retention
from requests_app.checks import check_master_keys
from requests_app.models import Attachment, LegalRequest, ProducedData, RequestEvent, Status
from requests_app.receipts import receipts_issue_all_due
from tests.conftest import verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db

MARKER = b"CUSTODY-MARKER-5f1e9c"


@pytest.fixture
def private_media(settings, tmp_path) -> Path:
    settings.PRIVATE_MEDIA_ROOT = settings.MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


def marked_pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Title"] = MARKER.decode()
    out = io.BytesIO()
    pdf.save(out)
    assert MARKER in out.getvalue()
    return out.getvalue()


def marked_export() -> bytes:
    # Over three segments of 64 KiB, the marker on every line.
    return b"".join(b"%06d,%s,192.0.2.1\n" % (n, MARKER) for n in range(8000))


def act(client, legal_request, name, data=None):
    return client.post(reverse("review:action", args=[legal_request.public_id, name]), data or {})


def responded(client, officer, reviewer, *, instrument=Instrument.EPOC, export=None):
    """A request submitted with a marked order, answered with marked produced data."""
    verified_login(client, officer)
    document = SimpleUploadedFile("order.pdf", marked_pdf(), "application/pdf")
    assert submit(client, instrument, VALID[instrument], documents=[document]).status_code == 302
    receipts_issue_all_due()  # the worker seals the receipt
    legal_request = LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")
    verified_login(client, reviewer)
    act(client, legal_request, "accept")
    upload = SimpleUploadedFile("export.csv", export or marked_export(), "text/csv")
    act(client, legal_request, "respond", {"files": [upload], "note": ""})
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    return legal_request


def produced_url(produced) -> str:
    return reverse("requests:produced", args=[produced.request.public_id, produced.public_id])


def attachment_url(attachment) -> str:
    return reverse("requests:attachment", args=[attachment.request.public_id, attachment.public_id])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


# --- The format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 7])
def test_segments_round_trip_whatever_the_size(size):
    key = bytes(range(32))
    plain = bytes(n % 251 for n in range(size))
    chunks = [plain[i : i + 10_000] for i in range(0, size, 10_000)]
    stored = b"".join(custody.encrypt_chunks(chunks, key))

    assert b"".join(custody.decrypt_stream(io.BytesIO(stored), key)) == plain
    assert len(stored) == custody.HEADER_BYTES + size + 16 * (size // 65536 + 1) - (
        16 if size and size % 65536 == 0 else 0
    )


def test_a_file_cut_at_a_segment_boundary_or_with_segments_swapped_is_refused():
    key = bytes(32)
    stored = b"".join(custody.encrypt_chunks([b"x" * (3 * 65536)], key))
    segment = 65536 + 16
    header, rest = stored[: custody.HEADER_BYTES], stored[custody.HEADER_BYTES :]
    first, second, third = rest[:segment], rest[segment : 2 * segment], rest[2 * segment :]

    for changed in (header + first + second, header + second + first + third):
        with pytest.raises(custody.Tampered):
            b"".join(custody.decrypt_stream(io.BytesIO(changed), key))


# --- At rest ------------------------------------------------------------------------------------


def test_the_bytes_on_disk_never_contain_the_plaintext_and_downloads_decrypt_them(
    client, officer, reviewer, private_media
):
    legal_request = responded(client, officer, reviewer)
    attachment, produced = legal_request.attachments.get(), legal_request.produced.get()
    export = marked_export()

    # Every file of the storage, the sealed receipt and manifest included: no marker anywhere.
    stored = [path for path in private_media.rglob("*") if path.is_file()]
    assert len(stored) >= 4
    assert not [path for path in stored if MARKER in path.read_bytes()]
    assert attachment.wrapped_key and produced.wrapped_key
    # The digest kept (and sealed in the manifest) is the plaintext's.
    assert produced.sha256 == hashlib.sha256(export).hexdigest()

    verified_login(client, officer)
    download = client.get(produced_url(produced))
    assert download.status_code == 200
    assert download["Content-Length"] == str(len(export))
    assert "export.csv" in download["Content-Disposition"]
    assert body(download) == export
    document = client.get(attachment_url(attachment))
    assert document.status_code == 200
    assert document["Content-Type"] == "application/pdf"
    plain_document = body(document)
    assert MARKER in plain_document
    assert attachment.sha256 == hashlib.sha256(plain_document).hexdigest()
    assert attachment.size == len(plain_document)


def test_a_changed_byte_on_disk_is_refused_on_download(client, officer, reviewer, private_media):
    legal_request = responded(client, officer, reviewer)
    produced = legal_request.produced.get()
    path = Path(produced.file.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the middle segment
    path.write_bytes(bytes(data))

    verified_login(client, officer)
    response = client.get(produced_url(produced))

    assert response.status_code == 500
    assert not response.streaming
    assert b"integrity check" in response.content


def test_rotation_rewraps_every_key_and_the_old_master_key_can_then_go(
    client, officer, reviewer, private_media, settings
):
    legal_request = responded(client, officer, reviewer)
    before = {row.pk: row.wrapped_key for row in Attachment.objects.all()}
    old = list(settings.PORTAL_MASTER_KEYS)
    new = Fernet.generate_key().decode()
    settings.PORTAL_MASTER_KEYS = [new, *old]
    files_before = {p: p.read_bytes() for p in private_media.rglob("*") if p.is_file()}
    out = io.StringIO()

    call_command("rotate_data_keys", stdout=out)

    assert "2 data keys re-wrapped" in out.getvalue()
    assert all(row.wrapped_key != before[row.pk] for row in Attachment.objects.all())
    # The files are not re-encrypted: their bytes are those written.
    assert {p: p.read_bytes() for p in private_media.rglob("*") if p.is_file()} == files_before
    settings.PORTAL_MASTER_KEYS = [new]  # the old key removed
    verified_login(client, officer)
    assert body(client.get(produced_url(legal_request.produced.get()))) == marked_export()
    assert MARKER in body(client.get(attachment_url(legal_request.attachments.get())))
    settings.PORTAL_MASTER_KEYS = old  # and without the new one, nothing reads
    assert client.get(produced_url(legal_request.produced.get())).status_code == 500


# --- The purge ----------------------------------------------------------------------------------


def test_after_the_download_window_and_the_retention_the_file_is_purged_and_answers_410(
    client, officer, reviewer, private_media, django_capture_on_commit_callbacks
):
    legal_request = responded(client, officer, reviewer)
    produced = legal_request.produced.get()
    path = Path(produced.file.path)
    window = timedelta(days=django_settings.PORTAL_PRODUCED_DATA_DAYS)
    retained = timedelta(days=django_settings.PORTAL_RETENTION_DAYS)
    assert produced.purge_due_at == produced.expires_at + retained
    assert abs(produced.expires_at - (produced.uploaded_at + window)) < timedelta(seconds=1)

    with time_machine.travel(produced.purge_due_at - timedelta(minutes=1), tick=False):
        assert retention.files_purge_due() == 0
    with (
        time_machine.travel(produced.purge_due_at, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert retention.files_purge_due() == 1
        assert retention.files_purge_due() == 0  # a second sweep finds nothing

    produced.refresh_from_db()
    assert not path.exists()
    assert (produced.wrapped_key, produced.file.name) == ("", "")
    assert produced.purged_at == produced.purge_due_at
    # The record stays: name, size, digest; the purge is in the request's history.
    event = legal_request.events.get(kind=RequestEvent.Kind.FILE_PURGED)
    assert event.actor is None
    assert str(produced.public_id) in event.detail and produced.sha256 in event.detail
    verified_login(client, officer)
    response = client.get(produced_url(produced))
    assert response.status_code == 410
    assert f"was purged on {produced.purged_at:%Y-%m-%d}" in response.content.decode()


def test_a_request_s_documents_are_purged_after_it_ends_by_the_beat_task(
    client, officer, reviewer, private_media
):
    legal_request = responded(client, officer, reviewer)
    attachment = legal_request.attachments.get()
    assert attachment.purge_due_at is None  # in use while the request goes on
    act(client, legal_request, "close", {"note": "done"})
    attachment.refresh_from_db()
    assert attachment.purge_due_at is not None
    assert "requests_app.tasks.purge_due_files" in {
        entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
    }
    from requests_app.tasks import purge_due_files

    with time_machine.travel(attachment.purge_due_at + timedelta(seconds=1), tick=False):
        assert purge_due_files() == 1  # the document (the produced data's window runs later)

    attachment.refresh_from_db()
    assert attachment.purged_at and not attachment.wrapped_key
    verified_login(client, officer)
    assert client.get(attachment_url(attachment)).status_code == 410


def test_tco_removed_content_is_kept_six_months():
    assert retention.retention_for(Instrument.TCO_REMOVAL) == timedelta(days=183)
    assert retention.retention_for(Instrument.EPOC) == timedelta(
        days=django_settings.PORTAL_RETENTION_DAYS
    )


def test_a_lead_s_legal_hold_stops_the_purge_until_released(
    client, officer, reviewer, lead, private_media
):
    legal_request = responded(client, officer, reviewer)
    produced = legal_request.produced.get()
    # A reviewer may not hold: no button, and a 403.
    assert act(client, legal_request, "legal_hold", {"reason": "x"}).status_code == 403
    verified_login(client, lead)
    page = client.get(reverse("review:detail", args=[legal_request.public_id])).content.decode()
    assert "Set a legal hold (lead)" in page
    act(client, legal_request, "legal_hold", {"reason": "Court order 2026/77 to keep the data."})
    legal_request.refresh_from_db()
    assert (legal_request.legal_hold_by, legal_request.legal_hold_reason) == (
        lead,
        "Court order 2026/77 to keep the data.",
    )
    assert legal_request.legal_hold_at is not None
    page = client.get(reverse("review:detail", args=[legal_request.public_id])).content.decode()
    assert "no file of this request is purged while it holds. Reason: Court order 2026/77" in page

    with time_machine.travel(produced.purge_due_at + timedelta(days=1), tick=False):
        assert retention.files_purge_due() == 0
        produced.refresh_from_db()
        assert produced.purged_at is None and Path(produced.file.path).exists()
        verified_login(client, lead)
        act(client, legal_request, "legal_hold_release")
        assert retention.files_purge_due() == 1
    produced.refresh_from_db()
    assert produced.purged_at is not None
    kinds = list(legal_request.events.values_list("kind", flat=True))
    assert kinds.count(RequestEvent.Kind.LEGAL_HOLD_SET) == 1
    assert kinds.count(RequestEvent.Kind.LEGAL_HOLD_RELEASED) == 1


def test_the_lead_s_dashboard_lists_the_purges_of_the_next_seven_days(
    client, officer, reviewer, lead, private_media
):
    legal_request = responded(client, officer, reviewer)
    produced = legal_request.produced.get()

    with time_machine.travel(produced.purge_due_at - timedelta(days=8), tick=False):
        verified_login(client, lead)
        page = client.get(reverse("review:dashboard")).content.decode()
        assert "No file is due for purge in the next 7 days." in page
    with time_machine.travel(produced.purge_due_at - timedelta(days=6), tick=False):
        verified_login(client, lead)
        page = client.get(reverse("review:dashboard")).content.decode()
    section = page[page.index('id="coming-purges"') :].split("</section>")[0]
    assert legal_request.reference in section and "export.csv" in section
    assert f"{produced.purge_due_at:%Y-%m-%d}" in section


# --- Start-up -----------------------------------------------------------------------------------


def test_production_refuses_to_start_without_a_master_key(settings):
    settings.DEBUG = False
    settings.PORTAL_MASTER_KEYS = []
    assert [problem.id for problem in check_master_keys()] == ["requests_app.E007"]
    settings.PORTAL_MASTER_KEYS = ["not a key"]
    assert [problem.id for problem in check_master_keys()] == ["requests_app.E007"]
    settings.DEBUG = True
    settings.PORTAL_MASTER_KEYS = []
    assert [problem.id for problem in check_master_keys()] == ["requests_app.W007"]
    settings.PORTAL_MASTER_KEYS = [Fernet.generate_key().decode()]
    assert check_master_keys() == []


def test_a_stored_file_that_lost_its_key_is_refused_not_served_in_clear(
    client, officer, reviewer, private_media
):
    legal_request = responded(client, officer, reviewer)
    produced = legal_request.produced.get()
    ProducedData.objects.filter(pk=produced.pk).update(wrapped_key="")
    verified_login(client, officer)
    assert client.get(produced_url(produced)).status_code == 500
