"""The cast every permission test uses: an officer, a colleague at the same authority, an officer
of another authority (the outsider), a reviewer and a lead; and a helper to log in for real."""

import uuid

import pytest
from celery.signals import before_task_publish
from django.contrib.auth.models import Group
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.test import Client, TestCase
from django.test.client import ClientHandler
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from kombu import Exchange, Queue

from portal.celery import app as celery_app
from tests.factories import AuthorityFactory, OfficerFactory, UserFactory, totp_device


@pytest.fixture(autouse=True, scope="session")
def _private_celery_queue():
    """Tasks the suite enqueues (e-mail hand-offs after commit) go to a queue of this run, which
    is deleted at the end, so the shared broker (Redis, or RabbitMQ with TEST_BROKER_URL=amqp://)
    keeps no leftovers and no other worker runs them. Each xdist worker is a session of its own,
    with its own queue. A run that published nothing (the pure tests: the clock, the power check)
    has nothing to delete and does not connect to the broker at all."""
    queue = f"pytest-{uuid.uuid4().hex[:8]}"
    celery_app.conf.task_default_queue = queue
    published = []

    def note_publish(**kwargs):
        published.append(kwargs.get("routing_key"))

    before_task_publish.connect(note_publish, weak=False)
    yield queue
    before_task_publish.disconnect(note_publish)
    if not published:
        return
    # Through kombu, so that it works on either broker: RabbitMQ deletes the queue and its
    # exchange; the Redis transport deletes the queue's list and its binding (declared first, as
    # it knows a queue's bindings from its own declarations).
    with celery_app.connection_for_write() as conn:
        bound = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)
        bound = bound(conn.default_channel)
        bound.declare()
        bound.delete()
        bound.exchange.delete()


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counters(settings):
    """Each test counts its own requests: a fresh key prefix in the real (Redis) cache, so rate
    limits hit by one test never leak into the next, and nothing is flushed."""
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches


# The request handlers (Django's middleware chain) the test clients share, by whether they
# enforce CSRF checks: building a chain costs about 40 ms, most of it WhiteNoise indexing the
# collected static files, and nearly every test makes a client. One process serves all its
# requests with one chain in production too.
_handlers: dict[bool, ClientHandler] = {}


@receiver(setting_changed)
def _new_handlers_after_a_settings_change(*, setting, **kwargs):
    """A middleware may read a setting when it starts (SecurityMiddleware, WhiteNoise): after any
    settings change the next request builds a new chain. Not for CACHES, which every test
    changes (_fresh_rate_limit_counters) and which no middleware reads when it starts."""
    if setting != "CACHES":
        _handlers.clear()


class CommittingClient(Client):
    """The test client, with on_commit callbacks (e-mails, task hand-offs) run when a request
    ends, as they would after the request's transaction commits in production; its requests go
    through the shared handler of the current settings."""

    def request(self, **request):
        csrf = self.handler.enforce_csrf_checks
        if csrf not in _handlers:
            _handlers[csrf] = ClientHandler(csrf)
        self.handler = _handlers[csrf]
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**request)


@pytest.fixture
def client():
    return CommittingClient()


@pytest.fixture
def authority(db):
    return AuthorityFactory(id="FR-OFAC", domains=["interieur.gouv.fr"])


@pytest.fixture
def other_authority(db):
    return AuthorityFactory(id="DE-BKA", country="DE", domains=["bka.bund.de"])


@pytest.fixture
def officer(authority):
    user = OfficerFactory(authority=authority, email="marie@interieur.gouv.fr")
    totp_device(user)
    return user


@pytest.fixture
def colleague(authority):
    user = OfficerFactory(authority=authority, email="paul@interieur.gouv.fr")
    totp_device(user)
    return user


@pytest.fixture
def outsider(other_authority):
    user = OfficerFactory(authority=other_authority, email="jonas@bka.bund.de")
    totp_device(user)
    return user


@pytest.fixture
def enforcing_authority(db):
    """The enforcing authority of settings.PORTAL_ENFORCING_STATE (IE), e-Evidence Art. 8."""
    return AuthorityFactory(
        id="IE-DOJ",
        country="IE",
        kind="other",
        instruments=["inquiry"],
        enforcing=True,
        domains=["justice.ie"],
    )


@pytest.fixture
def enforcer(enforcing_authority):
    """An approved officer of the enforcing authority."""
    user = OfficerFactory(authority=enforcing_authority, email="siobhan@justice.ie")
    totp_device(user)
    return user


def _staff_user(email: str, group: str | None = None, **fields):
    user = UserFactory(email=email, **fields)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    totp_device(user)
    return user


@pytest.fixture
def reviewer(db):
    return _staff_user("reviewer@platform.example", "reviewer")


@pytest.fixture
def lead(db):
    return _staff_user("lead@platform.example", "lead")


@pytest.fixture
def auditor(db):
    return _staff_user("auditor@platform.example", "auditor")


@pytest.fixture
def staff(db):
    return _staff_user("admin@platform.example", is_staff=True, is_superuser=True)


def current_code(device) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def verified_login(client, user):
    """Log in with password and mark the session's second factor verified (what the OTP step does),
    for tests about what comes after login. Login itself is tested through the real pages."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = user.totpdevice_set.get(confirmed=True).persistent_id
    session.save()
    return client


def passkey_login(client, user):
    """Log in with password and mark the session verified with a passkey of the user (created
    here if they have none): what the passkey step of the login does. Emergency submissions,
    emergency approvals and the admin need such a session (PORTAL_PHISHING_RESISTANT_FOR)."""
    from django_otp_webauthn.models import WebAuthnCredential

    from tests.webauthn import SoftPasskey

    credential = WebAuthnCredential.objects.filter(user=user, confirmed=True).first()
    if credential is None:
        credential = SoftPasskey().stored_for(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = credential.persistent_id
    session.save()
    return client


def pytest_runtest_setup(item):
    """Note each test that is one case of a printed figure (tests/figures.py)."""
    from tests.figures import FIGURE_TESTS

    for marker in item.iter_markers("figure"):
        FIGURE_TESTS[marker.args[0]].add(item.nodeid)


def pytest_sessionfinish(session):
    """An xdist worker hands the figures its tests recorded to the controller (below)."""
    if hasattr(session.config, "workeroutput"):
        from tests.figures import export

        session.config.workeroutput["figures"] = export()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """The controller collects each worker's figures, which it prints at the end."""
    from tests.figures import merge

    if recorded := getattr(node, "workeroutput", {}).get("figures"):
        merge(recorded)


def pytest_terminal_summary(terminalreporter):
    """The security suite's figures (docs/security.md), from the tests that ran."""
    from tests.figures import summary_lines

    failed = {
        report.nodeid
        for outcome in ("failed", "error")
        for report in terminalreporter.stats.get(outcome, [])
    }
    lines = summary_lines(failed)
    for line in lines:
        terminalreporter.write_line(line)
