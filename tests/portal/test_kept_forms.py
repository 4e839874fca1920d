"""Nothing typed is lost (issue 17): a request form posted after the session ended (idle, cookie
gone, session row expired) is kept server-side and given back to the same account after a full
login; the idle-timeout warning and its keep-alive endpoint."""

import hashlib
import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from portal import kept_forms
from portal.models import KeptForm
from requests_app.models import LegalRequest
from tests.conftest import current_code, verified_login
from tests.factories import PASSWORD
from tests.requests_app.helpers import VALID, pdf_upload

pytestmark = pytest.mark.django_db

FORM = reverse("requests:create", args=[Instrument.EPOC])
TYPED = {
    **VALID[Instrument.EPOC],
    "statement_of_reasons": "Typed for forty minutes: the account sold stolen identity papers.",
    "action": "submit",
}


def _kept_field(html: str) -> str:
    return re.search(rf'name="{kept_forms.FIELD}" value="([^"]+)"', html).group(1)


def _open_form(client, officer, url: str = FORM) -> str:
    verified_login(client, officer)
    return _kept_field(client.get(url).content.decode())


def _full_login(client, user) -> None:
    """The real pages: password, then the code of the second factor."""
    response = client.post(
        reverse("authorities:login"), {"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    token = current_code(user.totpdevice_set.get(confirmed=True))
    assert client.post(reverse("authorities:otp"), {"token": token}).status_code == 302


def _post_typed(client, field: str, url: str = FORM, **extra):
    return client.post(
        url, {**TYPED, kept_forms.FIELD: field, "documents": [pdf_upload()], **extra}
    )


def _shown(client, url: str = FORM) -> str:
    return client.get(url).content.decode()


def test_a_form_posted_after_the_session_row_expired_is_back_after_the_new_login(client, officer):
    field = _open_form(client, officer)
    Session.objects.all().delete()  # the session ended server-side (idle sweep, expiry)
    response = _post_typed(client, field)
    assert response.status_code == 302
    assert response.url.startswith(reverse("authorities:login"))
    assert LegalRequest.objects.count() == 0  # nothing was sent
    # The token is in an HttpOnly cookie only, never in the address.
    cookie = client.cookies[kept_forms.COOKIE]
    assert cookie["httponly"] and cookie.value not in response.url
    login_page = client.get(response.url).content.decode()
    assert "What you typed is kept for you" in login_page
    assert "Files are not kept" in login_page
    _full_login(client, officer)
    page = _shown(client)
    assert TYPED["statement_of_reasons"] in page
    assert TYPED["case_reference"] in page
    assert re.search(
        r'<input type="checkbox" name="data_categories" value="subscriber"[^>]*checked', page
    )
    assert "back in the form" in page and "Attach these files again: order.pdf." in page
    # Once: a second visit shows an empty form.
    assert TYPED["statement_of_reasons"] not in _shown(client)


def test_a_kept_form_is_a_database_row_under_the_hash_of_its_token(client, officer):
    """Not the cache: Redis may be flushed or restarted at any time (a typed emergency request
    would be lost). The token itself is only in the browser's cookie."""
    field = _open_form(client, officer)
    Session.objects.all().delete()
    stale = KeptForm.objects.create(
        token_hash="0" * 64,
        user=officer,
        path=FORM,
        data={},
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    _post_typed(client, field)
    [kept] = KeptForm.objects.all()  # the expired row went as this one was kept
    assert kept.pk != stale.pk
    token = client.cookies[kept_forms.COOKIE].value
    assert kept.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert kept.user == officer and kept.path == FORM
    assert kept.data["statement_of_reasons"] == [TYPED["statement_of_reasons"]]
    assert kept.files == ["order.pdf"]
    _full_login(client, officer)
    assert TYPED["statement_of_reasons"] in _shown(client)
    assert not KeptForm.objects.exists()  # taken once, then gone


def test_a_form_posted_without_the_session_cookie_is_kept_too(client, officer):
    field = _open_form(client, officer)
    del client.cookies["sessionid"]
    assert _post_typed(client, field).status_code == 302
    _full_login(client, officer)
    assert TYPED["statement_of_reasons"] in _shown(client)


def test_a_form_posted_after_the_idle_timeout_is_kept(client, officer):
    with time_machine.travel("2026-11-27 09:00Z", tick=False):
        field = _open_form(client, officer)
    with time_machine.travel("2026-11-27 09:45Z", tick=False):
        response = _post_typed(client, field)
        assert response.status_code == 302
        assert response.url.startswith(reverse("authorities:login"))
        assert "_auth_user_id" not in client.session
        assert LegalRequest.objects.count() == 0
        _full_login(client, officer)
        assert TYPED["statement_of_reasons"] in _shown(client)


@pytest.mark.parametrize("check", ["", "?check=1"])
def test_a_kept_draft_edit_comes_back_on_the_draft(client, officer, check):
    verified_login(client, officer)
    client.post(FORM, {**VALID[Instrument.EPOC], "action": "draft"})
    draft = LegalRequest.objects.get()
    # The form posts to its own address: the draft's page, or its "check before submitting".
    edit = reverse("requests:edit", args=[draft.public_id]) + check
    field = _kept_field(client.get(edit).content.decode())
    Session.objects.all().delete()
    assert _post_typed(client, field, url=edit).status_code == 302
    _full_login(client, officer)
    assert TYPED["statement_of_reasons"] in _shown(client, edit)


def test_another_account_on_the_same_browser_never_gets_it(client, officer, colleague):
    field = _open_form(client, officer)
    Session.objects.all().delete()
    _post_typed(client, field)
    _full_login(client, colleague)
    assert TYPED["statement_of_reasons"] not in _shown(client)
    # It stays for its owner.
    client.post(reverse("authorities:logout"))
    _full_login(client, officer)
    assert TYPED["statement_of_reasons"] in _shown(client)


def test_it_comes_back_only_after_the_second_factor(client, officer):
    field = _open_form(client, officer)
    Session.objects.all().delete()
    _post_typed(client, field)
    client.post(reverse("authorities:login"), {"username": officer.email, "password": PASSWORD})
    response = client.get(FORM)  # password only: sent to the second factor, nothing shown
    assert response.status_code == 302 and "second-factor" in response.url
    assert TYPED["statement_of_reasons"] not in response.content.decode()


@pytest.mark.parametrize(
    "field",
    [
        "",  # a form that did not opt in (login, password, code forms never do)
        "forged",
        "signed-for-another-page",
    ],
)
def test_only_a_genuine_opt_in_field_for_this_page_is_kept(client, officer, field):
    genuine = _open_form(client, officer)
    if field == "signed-for-another-page":
        other = reverse("requests:create", args=[Instrument.INQUIRY])
        field = _kept_field(client.get(other).content.decode())
    elif field == "forged":
        field = genuine[:-3] + "abc"
    Session.objects.all().delete()
    response = _post_typed(client, field)
    assert response.status_code == 302
    assert kept_forms.COOKIE not in response.cookies
    _full_login(client, officer)
    assert TYPED["statement_of_reasons"] not in _shown(client)


def test_a_kept_form_expires(client, officer, monkeypatch):
    monkeypatch.setattr(kept_forms, "KEEP_SECONDS", 1)
    field = _open_form(client, officer)
    Session.objects.all().delete()
    _post_typed(client, field)
    time.sleep(1.5)
    _full_login(client, officer)
    assert TYPED["statement_of_reasons"] not in _shown(client)


def test_a_post_without_a_valid_csrf_token_is_not_kept(officer):
    client = Client(enforce_csrf_checks=True)
    field = _open_form(client, officer)
    Session.objects.all().delete()
    response = _post_typed(client, field)
    assert response.status_code == 403
    assert kept_forms.COOKIE not in response.cookies


# --- The idle-timeout warning and the keep-alive ----------------------------------------------


def test_pages_carry_the_warning_for_a_verified_session_only(client, officer, settings):
    settings.PORTAL_SESSION_WARN_SECONDS = 300
    assert 'id="session-warning"' not in client.get(reverse("landing")).content.decode()
    verified_login(client, officer)
    page = client.get(reverse("home")).content.decode()
    box = re.search(r'<div id="session-warning"[^>]*>', page).group(0)
    assert " hidden" in box
    assert f'data-seconds-left="{settings.PORTAL_SESSION_IDLE_SECONDS}"' in box
    assert 'data-warn-seconds="300"' in box
    assert f'data-keep-alive-url="{reverse("authorities:keep_alive")}"' in box
    assert "You will be signed out in __N__ minutes." in box
    assert "Stay signed in" in page
    assert re.search(r'<script src="/static/js/session\.[0-9a-f.]*js" defer>', page)
    assert "<script>" not in page  # strict CSP: no inline script


def test_keep_alive_renews_the_idle_clock(client, officer, settings):
    url = reverse("authorities:keep_alive")
    with time_machine.travel("2026-11-27 09:00Z", tick=False) as traveller:
        verified_login(client, officer)
        client.get(reverse("home"))
        for _ in range(3):  # only the keep-alive, every 25 minutes, for 75 minutes
            traveller.shift(25 * 60)
            response = client.post(url)
            assert response.status_code == 200
            assert response.json() == {"seconds_left": settings.PORTAL_SESSION_IDLE_SECONDS}
        assert client.get(reverse("home")).status_code == 200
        traveller.shift(31 * 60)
        assert client.post(url).status_code == 302  # ended: to the login page


def test_keep_alive_never_extends_the_absolute_limit(client, officer, settings):
    url = reverse("authorities:keep_alive")
    with time_machine.travel("2026-11-27 09:00Z", tick=False) as traveller:
        verified_login(client, officer)
        client.get(reverse("home"))
        traveller.shift(settings.SESSION_COOKIE_AGE - 10 * 60)
        # Activity kept it alive until now (the idle clock moved), 10 minutes before the limit.
        session = client.session
        session["portal_seen_at"] = int(time.time())
        session.save()
        assert client.post(url).json() == {"seconds_left": 10 * 60}


def test_keep_alive_needs_post_a_verified_session_and_the_csrf_token(client, officer):
    url = reverse("authorities:keep_alive")
    assert client.post(url).status_code == 302  # anonymous
    client.post(reverse("authorities:login"), {"username": officer.email, "password": PASSWORD})
    assert client.post(url).status_code == 302  # password only: to the second factor
    verified_login(client, officer)
    assert client.get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    verified_login(strict, officer)
    assert strict.post(url).status_code == 403
