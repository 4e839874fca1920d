"""The client's address behind the trusted proxies (portal/http.py), and the controls that use it:
django-axes lockouts, django-ratelimit buckets, the submission IP behind the foreign-IP risk
signal, the access log and the account events.

portal.http is imported inside the tests of the function, so the tests through the pages also
run (and fail) on the tree from before it, which trusted the proxy's address for everyone."""

import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import reverse

from authorities.models import AccountEvent
from requests_app.models import AccessLog, LegalRequest, Status
from tests.conftest import CommittingClient, current_code, verified_login
from tests.factories import PASSWORD
from tests.processes import python_in_portal
from tests.requests_app.helpers import submit

PROXY = "127.0.0.1"  # the TLS proxy on the same host, as README "Production" runs it
ONE_PROXY = ("127.0.0.1/32",)

# --- The function -----------------------------------------------------------------------------

CASES = [
    # (trusted proxies, X-Forwarded-For, REMOTE_ADDR, client)
    (0, None, "198.51.100.7", "198.51.100.7"),
    (0, "203.0.113.9", "198.51.100.7", "198.51.100.7"),  # no proxy: a forged header is ignored
    (0, "203.0.113.9", PROXY, PROXY),  # ... even from the proxy's address
    (1, "203.0.113.9", PROXY, "203.0.113.9"),
    (1, "6.6.6.6, 203.0.113.9", PROXY, "203.0.113.9"),  # the client's own entry is ignored
    (1, "6.6.6.6,203.0.113.9", PROXY, "203.0.113.9"),  # two headers, joined by the server
    (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", PROXY, "203.0.113.9"),
    (1, None, "203.0.113.9", "203.0.113.9"),  # past the proxy: only the peer is known
    (3, "203.0.113.9", PROXY, "203.0.113.9"),  # fewer hops than proxies: the left-most
    (ONE_PROXY, "203.0.113.9", PROXY, "203.0.113.9"),
    (ONE_PROXY, "6.6.6.6, 203.0.113.9", PROXY, "203.0.113.9"),
    (ONE_PROXY, "127.0.0.1, 203.0.113.9", PROXY, "203.0.113.9"),  # claiming to be the proxy
    (ONE_PROXY, "203.0.113.9", "198.51.100.7", "198.51.100.7"),  # not from the proxy: ignored
    (("127.0.0.1/32", "10.0.0.0/8"), "6.6.6.6, 203.0.113.9, 10.1.2.3", PROXY, "203.0.113.9"),
    (("10.0.0.0/8",), "10.0.0.5", "10.0.0.1", "10.0.0.5"),  # every hop trusted: the left-most
    (ONE_PROXY, "203.0.113.9, garbage", PROXY, PROXY),  # the proxy's report is unreadable
    (ONE_PROXY, "garbage, 203.0.113.9", PROXY, "203.0.113.9"),
    (1, "6.6.6.6, unknown, 203.0.113.9", PROXY, "203.0.113.9"),
    (ONE_PROXY, "203.0.113.9:4711", PROXY, PROXY),  # a port is not an address
    (ONE_PROXY, "", PROXY, PROXY),
    (("::1/128",), "2001:DB8:0:0::1", "::1", "2001:db8::1"),  # IPv6, normalised
    (("::1/128",), "6.6.6.6, 2001:db8::1", "::1", "2001:db8::1"),
    (0, None, "::ffff:198.51.100.7", "198.51.100.7"),  # IPv4 seen through a dual-stack socket
    (ONE_PROXY, "203.0.113.9", "::ffff:127.0.0.1", "203.0.113.9"),
    (ONE_PROXY, "::ffff:203.0.113.9", PROXY, "203.0.113.9"),
    (1, "203.0.113.9", "", None),  # no peer address (a Unix socket): no guess
    (0, None, "not-an-address", None),
]


@pytest.mark.parametrize(("trusted", "forwarded", "remote", "expected"), CASES)
def test_client_ip_believes_only_the_trusted_proxies(
    settings, trusted, forwarded, remote, expected
):
    from portal.http import client_ip

    settings.PORTAL_TRUSTED_PROXIES = trusted
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    assert client_ip(request) == expected


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", 0),
        ("  ", 0),
        ("1", 1),
        ("2", 2),
        ("127.0.0.1/32", ("127.0.0.1/32",)),
        ("127.0.0.1", ("127.0.0.1/32",)),
        ("10.0.0.0/8, 192.168.1.5", ("10.0.0.0/8", "192.168.1.5/32")),
        ("::1,fd00::/8", ("::1/128", "fd00::/8")),
    ],
)
def test_trusted_proxies_setting_takes_a_count_or_networks(raw, parsed):
    from portal.http import trusted_proxies_parse

    assert trusted_proxies_parse(raw) == parsed


@pytest.mark.parametrize(
    "raw", ["-1", "one", "10.0.0.1/8", "10.0.0.0/8,", "10.0.0.0/33", "1.5", "proxy.example.eu", "١"]
)
def test_trusted_proxies_setting_refuses_anything_else(raw):
    from portal.http import trusted_proxies_parse

    with pytest.raises(ImproperlyConfigured, match="PORTAL_TRUSTED_PROXIES"):
        trusted_proxies_parse(raw)


@pytest.mark.slow
def test_portal_refuses_to_start_with_a_mistyped_proxy_network(tmp_path):
    def start(value: str) -> subprocess.CompletedProcess:
        # Reading a setting loads portal/settings.py, as every process does first.
        code = "from django.conf import settings; print(settings.PORTAL_TRUSTED_PROXIES)"
        return python_in_portal(
            code,
            env={
                "PATH": "/usr/bin:/bin",
                "DJANGO_SETTINGS_MODULE": "portal.settings",
                "DJANGO_DEBUG": "1",
                "PORTAL_VAR_DIR": str(tmp_path),
                "PORTAL_TRUSTED_PROXIES": value,
            },
        )

    refused = start("10.0.0.1/8")
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr
    assert "PORTAL_TRUSTED_PROXIES" in refused.stderr
    started = start("127.0.0.1/32")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "('127.0.0.1/32',)"


# --- Through the real pages -------------------------------------------------------------------


@pytest.fixture
def behind_the_proxy(settings):
    """One TLS proxy on the same host, configured as README says. The setting the portal had
    before (DJANGO_PROXY_COUNT -> AXES_IPWARE_PROXY_COUNT) is set too, so the same test shows
    what the old configuration did with it."""
    settings.PORTAL_TRUSTED_PROXIES = ONE_PROXY
    settings.AXES_IPWARE_PROXY_COUNT = 1


def browser(address: str | None) -> CommittingClient:
    """A browser whose requests reach the portal through the proxy on 127.0.0.1, which appends
    the browser's address to X-Forwarded-For (or, with None, a browser sending no header)."""
    headers = {} if address is None else {"HTTP_X_FORWARDED_FOR": address}
    return CommittingClient(REMOTE_ADDR=PROXY, **headers)


def login(client, email: str, password: str = PASSWORD):
    return client.post(reverse("authorities:login"), {"username": email, "password": password})


@pytest.mark.django_db
def test_one_client_hammering_logins_behind_the_proxy_locks_out_no_other_officer(
    behind_the_proxy, settings, officer
):
    settings.PORTAL_RATE_LOGIN = "30/h"
    attacker = browser("203.0.113.66")
    statuses = [login(attacker, officer.email, "wrong-password-123").status_code for _ in range(31)]
    assert statuses[-1] == 429  # the attacker is locked out and over the rate limit
    assert login(attacker, officer.email).status_code == 429  # even with the right password

    # The officer, at another address behind the same proxy, logs in as usual.
    marie = browser("198.51.100.20")
    response = login(marie, officer.email)
    assert response.status_code == 302
    assert response.url.startswith(reverse("authorities:otp"))
    marie.post(reverse("authorities:otp"), {"token": current_code(officer.totpdevice_set.get())})
    assert marie.session.get("_auth_user_id") == str(officer.pk)
    assert AccountEvent.objects.get(user=officer, kind=AccountEvent.Kind.LOGIN).ip_address == (
        "198.51.100.20"
    )


@pytest.mark.django_db
def test_sign_up_rate_limit_counts_per_client_behind_the_proxy(behind_the_proxy, settings):
    settings.PORTAL_RATE_SIGNUP = "3/h"
    url = reverse("authorities:signup")
    first = browser("203.0.113.66")
    statuses = [first.post(url, {"email": "x@gmail.com"}).status_code for _ in range(4)]
    assert 429 not in statuses[:3]
    assert statuses[3] == 429
    assert browser("198.51.100.20").post(url, {"email": "x@gmail.com"}).status_code != 429


@pytest.mark.django_db
def test_an_ipv6_client_cannot_escape_the_rate_limit_by_rotating_within_its_64(
    behind_the_proxy, settings
):
    settings.PORTAL_RATE_SIGNUP = "3/h"
    url = reverse("authorities:signup")
    statuses = [
        browser(f"2001:db8:aa:bb::{n}").post(url, {"email": "x@gmail.com"}).status_code
        for n in range(1, 5)
    ]
    assert [status == 429 for status in statuses] == [False, False, False, True]
    assert browser("2001:db8:aa:cc::1").post(url, {"email": "x@gmail.com"}).status_code != 429


@pytest.mark.django_db
def test_forged_forwarded_for_does_not_escape_lockout_without_a_configured_proxy(settings, officer):
    settings.PORTAL_TRUSTED_PROXIES = 0
    client = CommittingClient()
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.defaults["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{n + 1}"
        login(client, officer.email, "wrong-password-123")
    client.defaults["HTTP_X_FORWARDED_FOR"] = "198.51.100.99"
    response = login(client, officer.email)  # right password, a fresh forged address
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_forged_forwarded_for_does_not_escape_the_rate_limit_without_a_configured_proxy(
    settings,
):
    settings.PORTAL_TRUSTED_PROXIES = 0
    settings.PORTAL_RATE_SIGNUP = "3/h"
    client = CommittingClient()
    statuses = []
    for n in range(5):
        client.defaults["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{n + 1}"
        statuses.append(client.post(reverse("authorities:signup"), {"email": "x@gmail.com"}))
    assert [r.status_code == 429 for r in statuses] == [False, False, False, True, True]


@pytest.mark.django_db
def test_submission_ip_risk_signal_and_access_log_name_the_client_behind_the_proxy(
    behind_the_proxy, settings, officer, reviewer, tmp_path
):
    countries = tmp_path / "ip-country.csv"
    countries.write_text("203.0.113.0/24,US\n198.51.100.0/24,FR\n127.0.0.0/8,FR\n")
    settings.PORTAL_IP_COUNTRY_FILE = str(countries)

    officer_browser = verified_login(browser("203.0.113.9"), officer)
    assert submit(officer_browser, "inquiry").status_code == 302
    legal_request = LegalRequest.objects.exclude(status=Status.DRAFT).get(officer=officer)
    assert legal_request.submitted_ip == "203.0.113.9"

    reviewer_browser = verified_login(browser("198.51.100.30"), reviewer)
    page = reviewer_browser.get(
        reverse("review:detail", args=[legal_request.public_id])
    ).content.decode()
    assert "Submitted from an IP address in US" in page  # the officer's FR authority, a US IP
    log = AccessLog.objects.get(
        user=reviewer, action=AccessLog.Action.VIEW_REQUEST, request=legal_request
    )
    assert log.ip_address == "198.51.100.30"
