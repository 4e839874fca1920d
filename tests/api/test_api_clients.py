"""API clients: registered by an approved officer, approved by staff, tokens shown once and
stored hashed, revoked by owner or staff; the token stops at once when the registry says so."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from authorities.constants import AuthorityStatus
from requests_app.api import services
from requests_app.api.models import ApiClient
from requests_app.models import AccessLog
from tests.conftest import current_code, verified_login

from .helpers import approved_client, auth

pytestmark = pytest.mark.django_db

LIST = "/api/v1/requests/"


def test_officer_registers_a_client_in_the_pages_and_sees_the_token_once(client, officer):
    verified_login(client, officer)
    page = client.post(
        reverse("api_clients:list"),
        {
            "name": "Case system",
            "scopes": ["read", "submit"],
            "days": "30",
            "allowed_ips": "",
            "otp_token": current_code(officer.totpdevice_set.get()),
        },
    )
    assert page.status_code == 200
    token = page.context["token"]
    assert token.startswith("lrp_")
    stored = ApiClient.objects.get()
    assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ApiClient.objects.values().get())  # only the hash is kept
    assert token.startswith(f"lrp_{stored.token_prefix}_")
    assert stored.approved_at is None
    again = client.get(reverse("api_clients:list"))
    assert token not in again.content.decode()
    assert stored.token_prefix in again.content.decode()


def test_expiry_is_at_most_90_days(client, officer):
    verified_login(client, officer)
    page = client.post(reverse("api_clients:list"), {"name": "x", "scopes": ["read"], "days": "91"})
    assert "token" not in page.context or page.context["token"] is None
    assert ApiClient.objects.count() == 0


def test_token_waits_for_staff_approval(client, officer, staff):
    api_client, token = services.api_client_register(
        officer=officer, name="x", scopes=["read"], days=10
    )
    assert client.get(LIST, **auth(token)).status_code == 401
    services.api_client_approve(staff=staff, client=api_client)
    assert client.get(LIST, **auth(token)).status_code == 200


def test_no_token_is_401_problem_with_bearer_challenge(client):
    response = client.get(LIST)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["title"] and body["type"] and body["detail"]


def test_wrong_token_is_401(client, officer, staff):
    approved_client(officer, staff)
    assert client.get(LIST, **auth("lrp_00000000_nothing")).status_code == 401


def test_owner_revokes_and_token_stops(client, officer, staff):
    api_client, token = approved_client(officer, staff)
    verified_login(client, officer)
    response = client.post(reverse("api_clients:revoke", args=[api_client.public_id]))
    assert response.status_code == 302
    client.logout()
    refused = client.get(LIST, **auth(token))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


def test_a_colleague_cannot_revoke_anothers_client(client, officer, colleague, staff):
    api_client, token = approved_client(officer, staff)
    verified_login(client, colleague)
    assert (
        client.post(reverse("api_clients:revoke", args=[api_client.public_id])).status_code == 404
    )
    assert client.get(LIST, **auth(token)).status_code == 200


def test_staff_revoke(client, officer, staff):
    api_client, token = approved_client(officer, staff)
    services.api_client_revoke(user=staff, client=api_client)
    assert client.get(LIST, **auth(token)).status_code == 401


def test_expired_token_is_401(client, officer, staff):
    _, token = approved_client(officer, staff)
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        refused = client.get(LIST, **auth(token))
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]


def test_call_from_outside_the_allow_list_is_403(client, officer, staff):
    _, token = approved_client(officer, staff, allowed_ips="10.1.0.0/16")
    assert client.get(LIST, REMOTE_ADDR="10.1.2.3", **auth(token)).status_code == 200
    refused = client.get(LIST, REMOTE_ADDR="192.0.2.7", **auth(token))
    assert refused.status_code == 403
    assert "192.0.2.7" in refused.json()["detail"]


def test_suspended_authority_stops_the_token_at_once_with_the_reason(
    client, officer, staff, authority
):
    _, token = approved_client(officer, staff)
    assert client.get(LIST, **auth(token)).status_code == 200
    authority.status = AuthorityStatus.SUSPENDED
    authority.save()
    refused = client.get(LIST, **auth(token))
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert "suspended" in refused.json()["detail"]


def test_officer_whose_approval_is_revoked_stops_the_token(client, officer, staff):
    _, token = approved_client(officer, staff)
    officer.approved_at = None
    officer.save()
    assert client.get(LIST, **auth(token)).status_code == 403


def test_read_scope_cannot_write(client, officer, staff):
    _, token = approved_client(officer, staff, scopes=["read"])
    assert client.get(LIST, **auth(token)).status_code == 200
    refused = client.post(LIST, {}, content_type="application/json", **auth(token))
    assert refused.status_code == 403
    assert "submit" in refused.json()["detail"]


def test_every_call_is_audited_under_the_owning_officer(client, officer, staff):
    api_client, token = approved_client(officer, staff)
    client.get(LIST, **auth(token))
    row = AccessLog.objects.get(action=AccessLog.Action.API_CALL)
    assert row.user == officer
    assert api_client.token_prefix in row.object_ref and "GET /api/v1/requests/" in row.object_ref


def test_staff_approve_in_the_admin(client, officer, staff):
    from tests.conftest import passkey_login

    api_client, token = services.api_client_register(
        officer=officer, name="x", scopes=["read"], days=10
    )
    passkey_login(client, staff)
    response = client.post(
        reverse("admin:requests_app_apiclient_changelist"),
        {"action": "approve_clients", "_selected_action": [api_client.pk]},
    )
    assert response.status_code == 302
    api_client.refresh_from_db()
    assert api_client.approved_by == staff


def test_a_session_is_no_api_credential(client, officer):
    """The API reads only bearer tokens: a logged-in browser (or a forged cross-site post
    riding its cookie) gets 401, so CSRF cannot apply."""
    verified_login(client, officer)
    assert client.get(LIST).status_code == 401
    assert client.post(LIST, {}, content_type="application/json").status_code == 401


def test_each_client_has_its_own_rate_limit(client, officer, colleague, staff, settings):
    settings.PORTAL_RATE_API = "3/h"
    _, token = approved_client(officer, staff)
    _, other = approved_client(colleague, staff)
    assert [client.get(LIST, **auth(token)).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get(LIST, **auth(other)).status_code == 200


def test_an_unknown_api_path_is_a_problem_404(client):
    for path in ("/api/v1/nothing/", "/api/v1/requests/not-a-uuid/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
