"""`make run`'s embedded default under a few people at once: the portal on SQLite in a temp var/
(migrate, load_demo, the development server, DJANGO_DEBUG=1, no DATABASE_URL), driven over HTTP
by demo users. Every page and journey must answer without a server error: the queue search (a
UNION, which SQLite refuses with an ORDER BY inside), a burst of submissions (each allocates a
reference and writes the audit chain), parallel views (each writes the access log) and the review
actions while those views run ("database is locked" unless writers wait for each other)."""

import io
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar

import pikepdf
import pytest
from django_otp.oath import totp

from authorities.demo import DEMO_PASSWORD, demo_totp_key_hex
from tests.processes import ROOT, celery_process, free_port, web_process

pytestmark = pytest.mark.slow

OFFICER = "marie.durand@interieur.gouv.fr"
OFFICER_2 = "jonas.weber@bka.bund.de"
REVIEWER = "reviewer@platform.example"
LEAD = "lead@platform.example"
# What `make run` leaves unset, so the settings pick the embedded defaults (SQLite, a filesystem
# broker, in-memory cache, e-mails to files).
UNSET = ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "EMAIL_URL", "DJANGO_SECRET_KEY")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One person's session over plain HTTP: cookies, the CSRF token, every status kept."""

    def __init__(self, base: str, statuses: list) -> None:
        self.base = base
        self.cookies = CookieJar()
        self.statuses = statuses
        self._lock = threading.Lock()

    def _open(self, method: str, path: str, body: bytes | None = None, headers=None):
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect
        )
        request = urllib.request.Request(  # noqa: S310 - loopback URL of the test server
            self.base + path, data=body, method=method, headers=headers or {}
        )
        if method == "POST":
            request.add_header("Referer", self.base + path)
            request.add_header("X-CSRFToken", self.csrf())
        try:
            with opener.open(request, timeout=60) as response:
                status, text, location = response.status, response.read(), None
        except urllib.error.HTTPError as answer:
            status, text, location = answer.code, answer.read(), answer.headers.get("Location")
        with self._lock:
            self.statuses.append((method, path, status))
        return status, text.decode(errors="replace"), location

    def csrf(self) -> str:
        return next((c.value for c in self.cookies if c.name == "csrftoken"), "")

    def get(self, path: str):
        return self._open("GET", path)

    def head(self, path: str):
        return self._open("HEAD", path)

    def post(self, path: str, data: dict, files: dict | None = None):
        fields = [("csrfmiddlewaretoken", self.csrf()), *_pairs(data)]
        if not files:
            body = urllib.parse.urlencode(fields).encode()
            return self._open(
                "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}
            )
        boundary = uuid.uuid4().hex
        out = io.BytesIO()
        for name, value in fields:
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            )
            out.write(f"{value}\r\n".encode())
        for name, (filename, content) in files.items():
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
            )
            out.write(content + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
        content_type = f"multipart/form-data; boundary={boundary}"
        return self._open("POST", path, out.getvalue(), {"Content-Type": content_type})

    def login(self, email: str) -> None:
        self.get("/login/")
        status, _, location = self.post("/login/", {"username": email, "password": DEMO_PASSWORD})
        assert status == 302 and "second-factor" in location, (email, status)
        self.get("/login/second-factor/")
        code = f"{totp(bytes.fromhex(demo_totp_key_hex(email))):06d}"
        status, _, location = self.post("/login/second-factor/", {"token": code})
        assert status == 302, (email, status)


def _pairs(data: dict):
    for name, value in data.items():
        for one in value if isinstance(value, list) else [value]:
            yield name, one


def _pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _embedded_env(var_dir) -> dict[str, str]:
    # The suite's seal too: make run writes its own demo seal into var/ (make_demo_seal below).
    unset = (*UNSET, "PORTAL_SEAL_P12", "PORTAL_SEAL_PASSPHRASE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(
        # make run's settings, not the suite's (tests/settings.py would put back the test
        # environment removed above).
        DJANGO_SETTINGS_MODULE="portal.settings",
        DJANGO_DEBUG="1",
        PORTAL_VAR_DIR=str(var_dir),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
    )
    return env


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """The portal as `make run` serves it: the development server, a worker and beat, on SQLite
    in a temp var/ directory (beat sweeps every 2 seconds here, so they write while we do)."""
    var_dir = tmp_path_factory.mktemp("embedded-var")
    env = _embedded_env(var_dir)
    env.update(
        PORTAL_HEARTBEAT_SECONDS="2",
        PORTAL_NOTIFICATION_SWEEP_SECONDS="2",
        PORTAL_DEADLINE_SWEEP_SECONDS="2",
    )
    for command in (["make_demo_seal"], ["migrate", "--noinput", "-v0"], ["load_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=300,
            capture_output=True,
        )
    assert (var_dir / "db.sqlite3").exists()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = var_dir / "runserver.log"
    server = web_process(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        log=log_path,
        ready_url=base + "/login/",
    )
    worker = celery_process(
        "worker", "--pool=solo", "--loglevel=INFO", env=env, log=var_dir / "worker.log"
    )
    beat = celery_process("beat", "--loglevel=INFO", env=env, log=var_dir / "beat.log")
    with worker, beat, server:
        yield base, log_path


@pytest.fixture(scope="module")
def people(embedded):
    """Each demo person logged in once (a TOTP code is good once), sharing one status list."""
    base, _ = embedded
    statuses: list = []
    cast = {}
    for email in (OFFICER, OFFICER_2, REVIEWER, LEAD):
        cast[email] = Browser(base, statuses)
        cast[email].login(email)
    return cast, statuses


@pytest.fixture(scope="module")
def requests_to_work(people):
    """Six requests of the officer, submitted one after another, for the views and actions."""
    cast, _ = people
    return [_public_id(_submit(cast[OFFICER], f"SMOKE-WORK-{n}")) for n in range(6)]


def _server_errors(statuses: list, log_path, since: int) -> tuple[list, str]:
    """The answers >= 500 since the given index (and the worker's lock errors), with the server's
    error lines for the message."""
    errors = [s for s in statuses[since:] if s[2] >= 500]
    worker = (log_path.parent / "worker.log").read_text(errors="replace")
    errors += [("worker", line) for line in worker.splitlines() if "database is locked" in line]
    log = log_path.read_text(errors="replace")
    lines = "\n".join(line for line in log.splitlines() if "Error" in line)
    return errors, f"{len(errors)} server errors: {errors[:5]}\n{lines[-3000:]}"


def _submit(officer: Browser, case: str) -> str:
    status, _, location = officer.post(
        "/requests/new/dsa_art10/",
        {
            "case_reference": case,
            "legal_basis": "Regulation (EU) 2022/2065, Art. 10",
            "statement_of_reasons": "The account sells counterfeit medicines.",
            "targets": f"@seller.{case.lower().replace('-', '_')}",
            "redress_information": "The provider may appeal before the tribunal administratif.",
            "language": "fr",
            "action": "submit",
        },
        files={"documents": ("order.pdf", _pdf())},
    )
    return location or f"status {status}"


def _public_id(location: str) -> str:
    found = re.search(r"/([0-9a-f-]{36})/", location or "")
    assert found, location
    return found.group(1)


def _search(q: str) -> str:
    return f"/review/?{urllib.parse.urlencode({'q': q})}"


def test_health_checkers_get_an_answer_to_head_on_the_landing_and_login_pages(embedded):
    base, _ = embedded
    anonymous = Browser(base, [])
    assert anonymous.head("/")[0] == 200
    assert anonymous.head("/login/")[0] == 200


def test_main_pages_and_the_queue_search_answer_without_a_server_error(
    embedded, people, requests_to_work
):
    _, log_path = embedded
    cast, statuses = people
    since = len(statuses)
    officer, reviewer, lead = cast[OFFICER], cast[REVIEWER], cast[LEAD]
    public_id = requests_to_work[0]
    status, page, _ = officer.get(f"/requests/{public_id}/")
    assert status == 200
    reference = re.search(r"\bLR-\d{4}-\d{6}\b", page).group(0)
    for path in ("/", "/home/", "/requests/", "/requests/new/", "/requests/new/dsa_art10/"):
        officer.get(path)
    officer.get("/account/")
    for path in (
        "/review/",
        "/review/?status=submitted&emergency=1",
        f"/review/{public_id}/",
        _search("OFAC-2026-1187"),  # a case reference of the demo data
        _search("@harasser.account"),  # a target of the demo data
        _search("nothing-matches-this"),
    ):
        reviewer.get(path)
    lead.get("/review/dashboard/")
    status, found, _ = reviewer.get(_search(reference.lower()))

    errors, log = _server_errors(statuses, log_path, since)
    assert errors == [], log
    assert status == 200 and reference in found
    assert "SMOKE-WORK-1" not in found  # the search narrows the queue


def test_twenty_quick_submissions_at_once_all_get_a_reference(embedded, people):
    _, log_path = embedded
    cast, statuses = people
    since = len(statuses)
    officers = (cast[OFFICER], cast[OFFICER_2])
    with ThreadPoolExecutor(max_workers=10) as pool:
        locations = list(
            pool.map(lambda n: _submit(officers[n % 2], f"SMOKE-BURST-{n}"), range(20))
        )

    errors, log = _server_errors(statuses, log_path, since)
    assert errors == [], log
    assert all("/requests/" in location for location in locations), locations


def test_twenty_four_parallel_views_of_one_request_all_answer(embedded, people, requests_to_work):
    _, log_path = embedded
    cast, statuses = people
    since = len(statuses)
    target = requests_to_work[0]
    # Each view by the legal team writes the access log (the audit chain).
    views = [(cast[REVIEWER], f"/review/{target}/"), (cast[OFFICER], f"/requests/{target}/")] * 12
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda view: view[0].get(view[1])[0], views))

    errors, log = _server_errors(statuses, log_path, since)
    assert errors == [], log
    assert answers == [200] * 24


def test_review_actions_and_a_withdrawal_while_requests_are_being_viewed(
    embedded, people, requests_to_work
):
    _, log_path = embedded
    cast, statuses = people
    since = len(statuses)
    officer, reviewer, lead = cast[OFFICER], cast[REVIEWER], cast[LEAD]
    viewed, accepted, clarified, refused, assigned, withdrawn = requests_to_work
    views = [(reviewer, f"/review/{viewed}/"), (officer, f"/requests/{viewed}/")] * 8

    def while_viewed(actions: list) -> list:
        with ThreadPoolExecutor(max_workers=12) as pool:
            jobs = [pool.submit(who.get, path) for who, path in views[:8]]
            done = [pool.submit(who.post, path, data) for who, path, data in actions]
            jobs += [pool.submit(who.get, path) for who, path in views[8:]]
            [job.result() for job in jobs]
            return [job.result()[0] for job in done]

    first = while_viewed(
        [
            (reviewer, f"/review/{accepted}/actions/accept/", {}),
            (reviewer, f"/review/{clarified}/actions/clarify/", {"question": "Which account?"}),
            (
                reviewer,
                f"/review/{refused}/actions/refuse/",
                {"ground": "other", "explanation": "No."},
            ),
            (lead, f"/review/{assigned}/actions/assign/", {"assignee": ""}),
            (officer, f"/requests/{withdrawn}/withdraw/", {"reason": "Sent twice by mistake."}),
        ]
    )
    then = while_viewed(
        [
            (reviewer, f"/review/{refused}/actions/close/", {"note": "Closed after refusal."}),
            (reviewer, f"/review/{withdrawn}/actions/close/", {"note": "Withdrawn."}),
        ]
    )

    errors, log = _server_errors(statuses, log_path, since)
    assert errors == [], log
    assert first + then == [302] * 7
    for public_id, status in (
        (accepted, "In review"),
        (clarified, "Clarification requested"),
        (refused, "Closed"),
        (withdrawn, "Closed"),
    ):
        answer, page, _ = reviewer.get(f"/review/{public_id}/")
        assert answer == 200 and f"Status: <strong>{status}" in page, (public_id, status)
