"""Real browser journeys: Debian's Chromium driven by Playwright against the portal served by
gunicorn (production settings) on loopback, on the test PostgreSQL database, with e-mails caught
by an SMTP server in this process."""

import base64
import os
import subprocess
import sys
import threading
import time
import uuid
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.processes import ROOT, free_port, process_env, wait_for, web_process

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are ordinary blocking calls, which Django allows once told so.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

pytestmark = pytest.mark.slow


class Mailbox:
    """An SMTP server that keeps every message, for the links a journey must open."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            self.messages.append(message_from_bytes(envelope.original_content))
        return "250 2.0.0 Queued"

    def text_of(self, message: Message) -> str:
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode()
        return ""

    def wait_for(self, to: str, subject_part: str, timeout: float = 20) -> Message:
        def find():
            with self._lock:
                for message in reversed(self.messages):
                    if to in message["To"] and subject_part in message["Subject"]:
                        return message
            return None

        found = wait_for(find, timeout)
        assert found is not None, f"no e-mail to {to} about {subject_part!r}"
        return found


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            "Chromium is missing: install it with `apt-get install -y chromium` "
            "(make test does this when it runs as root)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def mailbox():
    box = Mailbox()
    box._controller.start()
    yield box
    box._controller.stop()


def _collected_static(var_dir: Path, env: dict) -> None:
    # Collected again when a static file changed since: a file missing from the manifest is a
    # 500 on every page that names it (a new script, say).
    manifest = var_dir / "staticfiles" / "staticfiles.json"
    newest = max(
        (f.stat().st_mtime for f in (ROOT / "static").rglob("*") if f.is_file()), default=0
    )
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )


@pytest.fixture
def portal(transactional_db, mailbox, tmp_path):
    """The portal under gunicorn, production settings, plain HTTP on loopback."""
    port = free_port()
    var_dir = ROOT / "var" / "browser"
    env = process_env(
        PORTAL_VAR_DIR=str(var_dir),
        PORTAL_PRIVATE_MEDIA_ROOT=str(tmp_path / "private"),
        EMAIL_URL=f"smtp://127.0.0.1:{mailbox.port}",
        # localhost, not 127.0.0.1: browsers allow WebAuthn (passkeys) on http for localhost
        # only, and never on an IP address.
        DJANGO_ALLOWED_HOSTS="localhost",
        DJANGO_HTTPS="0",
        DJANGO_SECURE_SSL_REDIRECT="0",
        PORTAL_BASE_URL=f"http://localhost:{port}",
        CELERY_TASK_DEFAULT_QUEUE=f"browser-{uuid.uuid4().hex[:8]}",
        CACHE_KEY_PREFIX=f"browser-{uuid.uuid4().hex[:8]}",
    )
    _collected_static(var_dir, env)
    url = f"http://localhost:{port}"
    gunicorn = [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}"]
    with web_process(
        [*gunicorn, "--workers", "2", "--timeout", "60"],
        env=env,
        log=tmp_path / "gunicorn.log",
        ready_url=url + "/",
    ):
        yield url


@pytest.fixture
def page_factory(browser):
    contexts = []

    def new_page(**options):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        context.set_default_timeout(45_000)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations of the page as it is now."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]), "help": v["help"]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def virtual_authenticator(page) -> tuple[object, str]:
    """Chromium's virtual authenticator (DevTools WebAuthn domain) for this page: a security
    key that answers every ceremony at once, user present and verified."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def give_passkey(page, user, base: str) -> None:
    """A passkey of `user`, as if enrolled earlier: its private key in the page's virtual
    authenticator, its public key stored by the portal."""
    from urllib.parse import urlsplit

    from tests.webauthn import SoftPasskey

    passkey = SoftPasskey(rp_id=urlsplit(base).hostname, origin=base)
    passkey.stored_for(user)
    cdp, authenticator = virtual_authenticator(page)
    cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": authenticator,
            "credential": {
                "credentialId": base64.b64encode(passkey.credential_id).decode(),
                "isResidentCredential": False,
                "rpId": passkey.rp_id,
                "privateKey": passkey.private_key_pkcs8_b64(),
                "signCount": 0,
            },
        },
    )


def settle(seconds: float = 0.2) -> None:
    time.sleep(seconds)


def pytest_terminal_summary(terminalreporter):
    from tests.browser.test_journeys import AXE_RESULTS

    if not AXE_RESULTS:
        return
    terminalreporter.write_sep("-", "axe-core: serious or critical violations per page")
    for page_name, violations in AXE_RESULTS.items():
        terminalreporter.write_line(f"{page_name:28} {len(violations)}")
