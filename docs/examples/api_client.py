"""An authority's case system and the portal's API, end to end, with httpx: submit a European
Production Order with its signed order, wait for the answer, read it and download the produced
data. docs/api.md quotes this file; tests/api/test_api_example_client.py runs this exact code
against a live portal.

    python docs/examples/api_client.py https://portal.example lrp_1a2b3c4d_... order.pdf out/
"""

import hashlib
import sys
import time
import uuid
from pathlib import Path

import httpx

# The answers a request ends in: the platform has responded, refused, or it was closed.
FINAL = {"responded", "partially_responded", "refused", "refused_by_enforcing", "closed"}


class ApiProblem(Exception):
    """An RFC 9457 problem from the portal: its status, detail and the fields that failed."""

    def __init__(self, response: httpx.Response):
        problem = response.json()
        self.status = response.status_code
        self.errors = problem.get("errors", [])
        fields = "; ".join(f"{e['field'] or '-'}: {e['detail']}" for e in self.errors)
        super().__init__(f"{self.status} {problem['title']}: {problem['detail']} {fields}".strip())


def checked(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        response.read()  # a streamed answer too
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            raise ApiProblem(response)
        response.raise_for_status()
    return response


def connect(portal: str, token: str) -> httpx.Client:
    """One client for every call: the token on each, the API's root as base."""
    return httpx.Client(
        base_url=f"{portal.rstrip('/')}/api/v1/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def submit(api: httpx.Client, order: Path) -> dict:
    """A draft, its signed order, then the submission. Each POST that makes something carries
    a new Idempotency-Key: a retry with the same key never makes a second request."""
    draft = checked(
        api.post(
            "requests/",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={
                "instrument": "epoc",
                "case_reference": "PARQUET-2026-0042",
                "legal_basis": "Code de procédure pénale, art. 60-1; Regulation (EU) 2023/1543",
                "offence": "Fraud (Code pénal art. 313-1)",
                "statement_of_reasons": "The account is used to coordinate the offence.",
                "targets": ["@jane.doe", "+33 6 12 34 56 78"],
                "data_categories": ["subscriber", "identification"],
                "period_start": "2026-09-01",
                "period_end": "2026-10-31",
                "language": "fr",
            },
        ),
        201,
    ).json()
    with order.open("rb") as signed:
        checked(
            api.post(
                f"requests/{draft['id']}/documents/",
                files={"file": (order.name, signed, "application/pdf")},
            ),
            201,
        )
    return checked(
        api.post(f"requests/{draft['id']}/submit/", headers={"Idempotency-Key": str(uuid.uuid4())}),
        200,
        202,  # an emergency: it waits for the officer's confirmation in the pages
    ).json()


# ---------------------------------------------------------------------------------------------
# RECEIVE THE WEBHOOK: comes with webhooks (issue 19, "Webhooks"). The portal will POST a signed
# event (Standard Webhooks) to the client's HTTPS URL; verifying it and reading its ids goes here.
# Until then the client follows the events feed below, which webhooks do not replace: a
# webhook says "look now", the feed says what happened since the last cursor.
# ---------------------------------------------------------------------------------------------


def wait_for_answer(
    api: httpx.Client, request_id: str, after: int = 0, timeout: float = 600, every: float = 5
) -> tuple[dict, int]:
    """Follow the events feed until the request reaches an answer; then read it. Returns the
    request as read and the cursor to keep for the next time."""
    deadline = time.monotonic() + timeout
    while True:
        page = checked(api.get("events/", params={"after": after}), 200).json()
        after = page["next_cursor"]
        if any(e["request"] == request_id and e["to_status"] in FINAL for e in page["events"]):
            return checked(api.get(f"requests/{request_id}/"), 200).json(), after
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer to {request_id} yet")
        time.sleep(every)


def download_deliveries(api: httpx.Client, request_id: str, into: Path) -> list[Path]:
    """Each produced file through its expiring, audited link; checked against its SHA-256."""
    saved = []
    into.mkdir(parents=True, exist_ok=True)
    for delivery in checked(api.get(f"requests/{request_id}/deliveries/"), 200).json():
        if delivery["expired"]:
            continue  # past its link's expiry: ask the platform through a message
        target = into / Path(delivery["name"]).name
        digest = hashlib.sha256()
        # The link is a path under the portal: the client's base URL is only the API's root.
        url = api.base_url.join(delivery["download"])
        with api.stream("GET", url) as response, target.open("wb") as out:
            checked(response, 200)
            for chunk in response.iter_bytes():
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != delivery["sha256"]:
            raise ValueError(f"{target.name}: the download does not match its SHA-256")
        saved.append(target)
    return saved


def main(portal: str, token: str, order: Path, into: Path) -> None:
    with connect(portal, token) as api:
        submitted = submit(api, order)
        print(
            f"{submitted['reference']}: {submitted['status']}, due {submitted['internal_deadline']}"
        )
        answer, _cursor = wait_for_answer(api, submitted["id"])
        print(f"{answer['reference']}: {answer['status']}")
        for path in download_deliveries(api, submitted["id"], into):
            print(f"saved {path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
