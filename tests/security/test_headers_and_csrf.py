"""Security headers on every page, cookies over HTTPS, and CSRF on every POST."""

import re

import pytest
from django.test import Client
from django.urls import get_resolver, reverse

from authorities.constants import Instrument
from portal.services import heartbeat_record
from requests_app.models import LegalRequest
from tests.conftest import CommittingClient, verified_login
from tests.requests_app.helpers import VALID, submit
from tests.security.test_url_matrix import fill, walk

pytestmark = pytest.mark.django_db


def check_headers(response) -> list[str]:
    problems = []
    csp = response.get("Content-Security-Policy", "")
    for directive in (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "script-src 'self'",
    ):
        if directive not in csp:
            problems.append(f"CSP lacks {directive}")
    if "unsafe-inline" in csp or "unsafe-eval" in csp:
        problems.append("CSP allows inline or eval")
    expected = {
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    for header, value in expected.items():
        if response.get(header) != value:
            problems.append(f"{header}: {response.get(header)!r}")
    # Scripts only as this site's static files (the passkey ceremonies), never inline code and
    # never another site's: what the CSP enforces in the browser, checked in the page itself.
    content = getattr(response, "content", b"")
    scripts = re.findall(rb"<script\b([^>]*)>(.*?)</script>", content, re.S)
    if len(scripts) != content.lower().count(b"<script") or any(
        body.strip() or not re.search(rb'\ssrc="/static/[^"/][^"]*"', attributes)
        for attributes, body in scripts
    ):
        problems.append("inline or external script in the page")
    return problems


@pytest.fixture
def pages(client, officer, reviewer, lead, enforcer):
    heartbeat_record(name="deadline-sweep")
    verified_login(client, officer)
    notified = {"enforcing_notified": "on", "enforcing_authority": enforcer.authority_id}
    submit(client, Instrument.EPOC, {**VALID[Instrument.EPOC], **notified})
    legal_request = LegalRequest.objects.get()
    return {
        None: [
            "/",
            "/healthz",
            reverse("authorities:login"),
            reverse("authorities:signup"),
            reverse("authorities:password_reset"),
        ],
        officer: [
            "/home/",
            reverse("requests:list"),
            reverse("requests:new"),
            reverse("requests:create", args=["epoc"]),
            reverse("requests:detail", args=[legal_request.public_id]),
            reverse("authorities:account"),
            reverse("authorities:passkeys"),
        ],
        reviewer: [
            reverse("review:queue"),
            reverse("review:detail", args=[legal_request.public_id]),
        ],
        lead: [reverse("review:dashboard")],
        enforcer: [
            reverse("enforcing:list"),
            reverse("enforcing:detail", args=[legal_request.public_id]),
        ],
    }


def test_every_page_sends_the_security_headers_over_https(pages, capsys):
    checked = 0
    problems = {}
    for user, urls in pages.items():
        client = Client()
        if user is not None:
            verified_login(client, user)
        for url in urls:
            response = client.get(url, secure=True)
            assert response.status_code == 200, url
            found = check_headers(response)
            if found:
                problems[url] = found
            checked += 1
    with capsys.disabled():
        print(f"\nsecurity headers checked on {checked} URLs, {len(problems)} with problems")
    assert problems == {}


def test_cookies_are_secure_httponly_and_samesite_over_https(officer):
    from tests.factories import PASSWORD

    client = Client()
    client.get(reverse("authorities:login"), secure=True)
    response = client.post(
        reverse("authorities:login"),
        {"username": officer.email, "password": PASSWORD},
        secure=True,
    )
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    csrf = client.cookies["csrftoken"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"


def test_csrf_is_enforced_on_every_post(officer, reviewer, client):
    heartbeat_record(name="deadline-sweep")
    world_client = CommittingClient()
    verified_login(world_client, officer)
    submit(world_client, Instrument.EPOC)
    legal_request = LegalRequest.objects.get()
    world = {
        "legal_request": legal_request,
        "draft": legal_request,
        "users": {"officer_a": officer},
    }
    # Without a token, every URL refuses a POST with 403, for a stranger and for an officer.
    # Not the API (api:...): it takes no cookie, only a bearer token, so a forged cross-site
    # POST carries no credential there (a session gets 401: test_url_matrix, tests/api).
    patterns = [
        (n, p)
        for n, p in walk(get_resolver())
        if "produced" not in n and "notice" not in n and not n.startswith("api:")
    ]
    for user in (None, officer, reviewer):
        strict = Client(enforce_csrf_checks=True)
        if user is not None:
            verified_login(strict, user)
        for name, pattern in patterns:
            url = fill(name, pattern, world)
            assert strict.post(url).status_code == 403, (user, name)
    # With the token, the same POST goes through the CSRF check (here: a form error page).
    strict = Client(enforce_csrf_checks=True)
    strict.get(reverse("authorities:login"))
    token = strict.cookies["csrftoken"].value
    response = strict.post(reverse("authorities:login"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 200
