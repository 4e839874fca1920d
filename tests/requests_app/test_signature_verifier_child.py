"""A PDF that may be signed is checked by two children of the checker server at once
(filecheck._checked_in_children): one verifies its signatures, the other runs every other
check. The verifier is a spare forked ahead of its upload, which copies the pages a
verification writes while it waits (filecheck._Spare, prefault.py). What must hold: the outcome
is the one child's outcome, a child never reaches another child's pipes, and a spare that died
costs nothing but its speed.

The server's work here runs on one thread of the module's own (`server`): in a full run the
browser tests' Playwright keeps an event loop running in the main thread until the session ends,
and pyHanko's synchronous API (asyncio.run) refuses to run inside one. The checker server has
no loop running; neither does that thread."""

import json
import os
import resource
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from requests_app import filecheck, pdfsignatures, prefault
from requests_app.uploads import CHILD_CPU_SECONDS, CHILD_MEMORY_BYTES, CHILD_WALL_SECONDS
from tests.requests_app.helpers import pdf_bytes
from tests.requests_app.signing import make_ca, make_signer, sign_pdf
from tests.requests_app.test_uploads import pdf_with_javascript_open_action

LIMITS = {"cpu_seconds": CHILD_CPU_SECONDS, "memory_bytes": CHILD_MEMORY_BYTES}


@pytest.fixture(scope="module")
def server():
    """Runs a function on the server's thread: server(function, ...) -> its result."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        yield lambda function, *args, **kwargs: thread.submit(function, *args, **kwargs).result()


def preloaded_spare() -> filecheck._Spare:
    pdfsignatures.preload()  # as the checker server does before it forks
    return filecheck._Spare(CHILD_CPU_SECONDS, CHILD_MEMORY_BYTES)


@pytest.fixture(scope="module")
def spare(server):
    made = server(preloaded_spare)
    yield made
    if made.waiting is not None:
        pid, job, answer = made.waiting
        filecheck._close(job)
        filecheck._close(answer)
        filecheck._reap(pid)


@pytest.fixture(scope="module")
def ca():
    return make_ca("Verifier child test CA")


@pytest.fixture
def signed(server, ca):
    """A PDF signed by a signer of the test CA (make_signer's keywords)."""
    return lambda **signer: server(sign_pdf, pdf_bytes(), make_signer(ca, **signer), ca)


@pytest.fixture
def anchors(ca, tmp_path):
    path = tmp_path / "anchors.json"
    path.write_text(json.dumps([{"pem": ca.pem.decode(), "qualified": True, "source": "test"}]))
    return str(path)


def written(tmp_path, content: bytes) -> str:
    path = tmp_path / "upload.pdf"
    path.write_bytes(content)
    return str(path)


def served(server, spare, path: str, anchors: str) -> tuple[dict, list[int]]:
    """The server's outcome for one upload, and the pids of the children that checked it."""

    def checked_in_children():
        children = []
        try:
            return filecheck._checked_in_children(
                {"path": path, "anchors": anchors},
                children,
                spare,
                wall_seconds=CHILD_WALL_SECONDS,
                **LIMITS,
            ), children
        finally:
            for pid in children:
                filecheck._reap(pid)

    return server(checked_in_children)


def in_one_process(server, path: str, anchors: str) -> dict:
    """The reference: every check and the verification in one process, one after the other."""
    return server(filecheck.checked, path, anchors)


def without_clock(outcome: dict) -> dict:
    """A signature without a time-stamp is checked "now": the one moment two runs differ."""
    signatures = [
        {key: value for key, value in record.items() if key != "checked_at"}
        for record in outcome.get("signatures", [])
    ]
    return outcome | ({"signatures": signatures} if "signatures" in outcome else {})


def test_a_signed_pdf_is_verified_by_the_spare_beside_the_checks_with_one_childs_verdict(
    server, spare, signed, anchors, tmp_path
):
    path = written(tmp_path, signed(qualified=True))
    spare.replenish()
    waiting = spare.waiting[0]

    outcome, children = served(server, spare, path, anchors)

    assert children == [waiting, children[1]] and len(children) == 2
    assert spare.waiting is None  # taken; the server forks the next one after it answers
    [record] = outcome["signatures"]
    assert record["intact"] and record["trusted"] and record["qualified"]
    assert without_clock(outcome) == without_clock(in_one_process(server, path, anchors))


def test_an_unsigned_pdf_is_checked_by_one_child_and_leaves_the_spare_waiting(
    server, spare, anchors, tmp_path
):
    spare.replenish()
    waiting = spare.waiting[0]

    outcome, children = served(server, spare, written(tmp_path, pdf_bytes()), anchors)

    assert len(children) == 1 and waiting not in children
    assert spare.waiting[0] == waiting
    assert outcome == {"ok": True, "kind": "pdf", "pages": 1, "problem": "", "details": {},
                       "signatures": []}  # fmt: skip


@pytest.mark.parametrize(
    "content, expected",
    [
        # Refused by the checks: their refusal, the verifier's answer never read.
        (
            lambda: pdf_with_javascript_open_action() + b"\n% /ByteRange\n",
            {"ok": False, "problem": "contains active content (JS)"},
        ),
        # No signature field (no /AcroForm): nothing to verify, the verifier's answer dropped.
        (lambda: pdf_bytes() + b"% /ByteRange [0 10 20 30]\n", {"ok": True, "signatures": []}),
    ],
    ids=["refused", "no-signature-field"],
)
def test_a_file_naming_a_byte_range_gets_what_one_child_would_say(
    server, spare, anchors, tmp_path, content, expected
):
    path = written(tmp_path, content())
    spare.replenish()

    outcome, children = served(server, spare, path, anchors)

    assert len(children) == 2
    assert outcome == in_one_process(server, path, anchors)
    assert outcome.items() >= expected.items()


def test_a_spare_that_died_is_replaced_by_a_verifier_forked_for_the_upload(
    server, spare, signed, anchors, tmp_path
):
    path = written(tmp_path, signed())
    spare.replenish()
    dead = spare.waiting[0]
    os.kill(dead, signal.SIGKILL)
    while Path(f"/proc/{dead}/stat").read_text().split(")")[1].split()[0] != "Z":
        time.sleep(0.01)  # dead, not yet reaped: as the server finds it

    outcome, children = served(server, spare, path, anchors)

    assert dead not in children and len(children) == 2
    [record] = outcome["signatures"]
    assert record["intact"] and record["trusted"]
    assert without_clock(outcome) == without_clock(in_one_process(server, path, anchors))


def test_a_child_holds_none_of_the_servers_pipes_to_the_spare(server, spare):
    spare.replenish()
    _, job, answer = spare.waiting
    servers = {os.fstat(fd).st_ino for fd in (job, answer)}

    def pipes_seen(_):
        seen = []
        for fd in range(3, 256):
            try:
                seen.append(os.fstat(fd).st_ino)
            except OSError:
                continue
        return seen

    seen = server(
        filecheck.run_limited, pipes_seen, None, wall_seconds=CHILD_WALL_SECONDS, **LIMITS
    )

    assert isinstance(seen, list) and seen  # its own answer pipe, at least
    assert not servers & set(seen)


def faults_of_a_verification(server, pages) -> dict:
    """In a child: copy `pages` first (prefault.copy), then count the page faults of the
    warm-up's verification."""

    def measured(_):
        copied = prefault.copy(pages)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        pdfsignatures.verify_warm_up()
        return {
            "copied": copied,
            "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before,
        }

    return server(filecheck.run_limited, measured, None, wall_seconds=CHILD_WALL_SECONDS, **LIMITS)


def test_a_child_that_copied_the_learnt_pages_first_takes_fewer_faults_while_it_verifies(
    server, spare
):
    if not spare.pages:
        pytest.fail("the server learnt no page: /proc/self/pagemap unreadable?")

    cold = faults_of_a_verification(server, [])
    warmed = faults_of_a_verification(server, spare.pages)

    print(f"\npages learnt: {sum(e - s for s, e in spare.pages) // prefault.PAGE}; "
          f"faults while verifying: {cold['faults']} cold, {warmed['faults']} after copying "
          f"{warmed['copied']} pages")  # fmt: skip
    learnt = sum(end - start for start, end in spare.pages) // prefault.PAGE
    assert cold["copied"] == 0 and cold["faults"] > 500  # a verification ran: preload did
    assert warmed["copied"] >= learnt * 0.9 and warmed["copied"] > 100
    # Copied ahead, at least half of them are faults the verification no longer takes (the
    # rest of its faults are the new memory it maps, which no child can copy ahead).
    assert warmed["faults"] <= cold["faults"] - warmed["copied"] / 2
