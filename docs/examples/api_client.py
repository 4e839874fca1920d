"""An authority's case system and the portal's API, end to end, with httpx: submit a European
Production Order with its signed order, receive the webhook that says it was answered, read it
and download the produced data. docs/api.md quotes this file; tests/api/test_api_example_client.py
runs this exact code against a live portal.

    python docs/examples/api_client.py https://portal.example lrp_1a2b3c4d_... order.pdf out/ \
        [whsec_... PORT]

With a webhook secret and a port, it receives the client's webhooks on that port (behind the
HTTPS address registered on the client's page); without them, it follows the events feed.
"""

import hashlib
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import standardwebhooks

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


class WebhookReceiver:
    """The portal's webhooks for this client, received on `port` (in production behind the HTTPS
    address registered on the client's page). Each is verified with the endpoint's secret, as
    Standard Webhooks says (signature, and a timestamp no older than five minutes: a replayed
    post is refused), and only then believed. A webhook carries ids, never content: it names a
    request to read again."""

    def __init__(self, secret: str, port: int):
        verifier = standardwebhooks.Webhook(secret)
        named: queue.Queue = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    event = verifier.verify(body, dict(self.headers))
                except standardwebhooks.WebhookVerificationError:
                    self.send_response(400)  # not the portal's: ignored
                else:
                    named.put(event["data"]["request_id"])
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.named = named
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for_webhook(
    api: httpx.Client, receiver: WebhookReceiver, request_id: str, timeout: float = 600
) -> dict:
    """Read the request again each time a webhook names it, until it is answered."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            named = receiver.named.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise TimeoutError(f"no answer to {request_id} yet") from None
        if named != request_id:
            continue
        current = checked(api.get(f"requests/{request_id}/"), 200).json()
        if current["status"] in FINAL:
            return current


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


def main(
    portal: str, token: str, order: Path, into: Path, receiver: WebhookReceiver | None = None
) -> None:
    with connect(portal, token) as api:
        submitted = submit(api, order)
        print(
            f"{submitted['reference']}: {submitted['status']}, due {submitted['internal_deadline']}"
        )
        if receiver is not None:
            answer = wait_for_webhook(api, receiver, submitted["id"])
            print(f"{answer['reference']}: {answer['status']} (told by webhook)")
        else:
            answer, _cursor = wait_for_answer(api, submitted["id"])
            print(f"{answer['reference']}: {answer['status']}")
        for path in download_deliveries(api, submitted["id"], into):
            print(f"saved {path}")


if __name__ == "__main__":
    hooks = WebhookReceiver(sys.argv[5], int(sys.argv[6])) if len(sys.argv) > 6 else None
    try:
        main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), hooks)
    finally:
        if hooks is not None:
            hooks.close()
