"""The upload checker's server (requests_app/filecheck.serve): one pre-loaded process per web
process forks a limited child per file. What it must keep of the one-process-per-file design:
no secret in the checker's environment, a dying or hanging child reported as a refusal, and no
check lost when the server is busy or gone."""

import os
import signal
import time
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from requests_app import filecheck
from requests_app.uploads import check_upload, checker_server, spawn_checker
from tests.requests_app.helpers import pdf_bytes
from tests.requests_app.test_uploads import pdf_with_javascript_open_action

LIMITS = {"cpu_seconds": 5, "memory_bytes": 256 * 1024 * 1024, "wall_seconds": 5}


def accepted_pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("order.pdf", pdf_bytes())


def test_one_server_checks_file_after_file_and_sees_no_secret_of_the_portal():
    check_upload(accepted_pdf())
    first = checker_server.pid
    check_upload(accepted_pdf())

    assert first is not None and checker_server.pid == first
    environment = Path(f"/proc/{first}/environ").read_bytes().split(b"\0")
    names = {entry.split(b"=", 1)[0].decode() for entry in environment if entry}
    assert names == {"PATH", "PYTHONHASHSEED"}
    assert "DJANGO_SECRET_KEY" in os.environ  # the test process has it; the checker must not


def test_server_killed_between_two_uploads_is_started_again_and_the_check_is_not_lost():
    check_upload(accepted_pdf())
    killed = checker_server.pid
    os.kill(killed, signal.SIGKILL)
    os.waitpid(killed, 0)

    assert check_upload(accepted_pdf()).pages == 1
    assert checker_server.pid not in (None, killed)


def test_upload_arriving_while_the_server_is_busy_is_checked_in_a_process_of_its_own():
    check_upload(accepted_pdf())
    server = checker_server.pid
    assert checker_server._lock.acquire()  # another thread's check in progress
    try:
        assert check_upload(accepted_pdf()).pages == 1
        refused = spawn_checker_outcome(pdf_with_javascript_open_action())
    finally:
        checker_server._lock.release()

    assert checker_server.pid == server
    assert refused["ok"] is False and refused["problem"] == "contains active content (JS)"


def spawn_checker_outcome(content: bytes) -> dict:
    scratch = Path(os.environ["PORTAL_VAR_DIR"]) / f"spawned-{os.getpid()}.pdf"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_bytes(content)
    try:
        return spawn_checker(str(scratch))
    finally:
        scratch.unlink()


def crash(_):
    os.kill(os.getpid(), signal.SIGSEGV)


def spin(_):
    while True:
        pass


def hang(_):
    time.sleep(60)


def hoard(_):
    return len(bytearray(1024 * 1024 * 1024))


def test_child_that_crashes_spins_or_runs_out_of_memory_is_reported_as_stopped():
    for function in (crash, spin, hoard):
        limits = LIMITS | {"cpu_seconds": 1}
        outcome = filecheck.run_limited(function, None, **limits)
        assert outcome == {
            "ok": False,
            "kind": None,
            "pages": None,
            "problem": filecheck.CHECKER_STOPPED,
            "details": {},
        }, function.__name__


def test_child_that_hangs_is_killed_at_the_wall_clock_limit():
    started = time.monotonic()

    outcome = filecheck.run_limited(hang, None, **LIMITS | {"wall_seconds": 0.5})

    assert outcome["problem"] == filecheck.TOOK_TOO_LONG
    assert time.monotonic() - started < 5
