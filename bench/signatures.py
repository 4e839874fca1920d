"""`python -m bench.run --only signatures`: what verifying an order's signatures adds to the
upload check (issue 18). A corpus of signed PDFs (a CA of the bench's own, as in the tests:
tests/requests_app/signing.py; half of them time-stamped) and unsigned PDFs padded to the same
size go through uploads.check_upload, alternated so the machine's background load touches both
alike, with the CA as a qualified trust anchor. Needs no database: the anchors file is written
here (the format trust.anchors_file() writes). Prints one JSON object on its last line."""

import io
import json
import os
import statistics
import tempfile
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from pyhanko.pdf_utils import generic  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402

from requests_app.uploads import check_upload, checker_server  # noqa: E402
from tests.requests_app.helpers import pdf_bytes  # noqa: E402
from tests.requests_app.signing import make_ca, make_signer, sign_pdf  # noqa: E402

DOCUMENTS = 200  # of each kind
PAGES = 3


def padded(pdf: bytes, size: int) -> bytes:
    """`pdf` with an unreferenced stream appended (an incremental update) to be `size` bytes
    long, give or take a few: an unsigned document as large as a signed one."""

    def with_filler(length: int) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        writer.add_object(generic.StreamObject(stream_data=b"%" * max(length, 1)))
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    overhead = len(with_filler(1)) - 1 - len(pdf)  # the update's own bytes
    return with_filler(size - len(pdf) - overhead)


def corpus() -> tuple[list[bytes], list[bytes], dict]:
    ca = make_ca("Bench national CA")
    tsa = make_signer(ca, name="Bench TSA", organisation="Bench TSA", time_stamping=True)
    signers = [
        make_signer(ca, name=f"Magistrate {n}", organisation_id=f"LEGFR-{n:04d}", qualified=True)
        for n in range(10)
    ]
    signed = [
        sign_pdf(
            pdf_bytes(PAGES),
            signers[n % len(signers)],
            ca,
            timestamp_by=tsa if n % 2 else None,
        )
        for n in range(DOCUMENTS)
    ]
    unsigned = [padded(pdf_bytes(PAGES), len(document)) for document in signed]
    anchor = {"pem": ca.pem.decode(), "qualified": True, "source": "bench trusted list"}
    return signed, unsigned, anchor


def timed(content: bytes, anchors: str):
    upload = SimpleUploadedFile("order.pdf", content, "application/pdf")
    started = time.perf_counter()
    checked = check_upload(upload, anchors=anchors)
    elapsed = time.perf_counter() - started
    return elapsed, checked


def verification_alone(signed: list[bytes], anchors: str) -> list[float]:
    """pyHanko's verification of each signed document in this process, warmed as the checker
    server is before it forks (pdfsignatures.preload): no fork, no page copied, no pikepdf. A
    child forked from a warmed server does this work and more, so a signed check cannot cost
    less than an unsigned one plus this (docs/performance.md, "Verifying signed orders")."""
    from requests_app import pdfsignatures

    pdfsignatures.preload()
    prepared = pdfsignatures.load_anchors(anchors)
    seconds = []
    for document in signed:
        started = time.perf_counter()
        [record] = pdfsignatures.verify(document, prepared)
        seconds.append(time.perf_counter() - started)
        assert record["intact"] and record["trusted"] and record["qualified"], record
    return seconds


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def main() -> None:
    signed, unsigned, anchor = corpus()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as anchors:
        json.dump([anchor], anchors)
        anchors.flush()
        # Warm-up: the checker server starts and imports pyHanko once, as in the web process.
        for content in (unsigned[0], signed[0]):
            timed(content, anchors.name)
        times = {"signed": [], "unsigned": []}
        for plain, sealed in zip(unsigned, signed, strict=True):
            seconds, checked = timed(plain, anchors.name)
            assert checked.signatures == []
            times["unsigned"].append(seconds)
            seconds, checked = timed(sealed, anchors.name)
            [record] = checked.signatures
            assert record["intact"] and record["trusted"] and record["qualified"], record
            times["signed"].append(seconds)
        checker_server.stop()
        times["verification_in_process"] = verification_alone(signed, anchors.name)
    result = {
        "documents": DOCUMENTS,
        "pages": PAGES,
        "mean_bytes": {
            "signed": round(statistics.mean(map(len, signed))),
            "unsigned": round(statistics.mean(map(len, unsigned))),
        },
    }
    for kind, values in times.items():
        result[kind] = {
            "p50_ms": round(percentile(values, 50) * 1000, 1),
            "p95_ms": round(percentile(values, 95) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
