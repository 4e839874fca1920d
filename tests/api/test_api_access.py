"""Every API route x every kind of token x GET and POST, with the documented answer of each
cell (docs/api.md, "Authenticating"). The route list comes from the resolver: a new API route
without an entry here fails."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver, reverse
from django.utils import timezone

from authorities.constants import AuthorityStatus
from requests_app import enforcing
from requests_app.api import services
from requests_app.api.models import ApiClient
from requests_app.models import LegalRequest
from requests_app.receipts import receipts_issue_all_due
from requests_app.review import services as review_services
from tests.security.test_url_matrix import walk

from .helpers import approved_client, call, epoc_body, new_key
from .test_api_requests import upload

pytestmark = pytest.mark.django_db

OBJECT_ROUTES = {
    "api:request",
    "api:submit",
    "api:withdraw",
    "api:targets",
    "api:documents",
    "api:messages",
    "api:deliveries",
    "api:delivery",
    "api:enforcing_order",
    "api:enforcing_document",
    "api:enforcing_confirm",
    "api:enforcing_grounds",
    "api:receipt",
}
# The owner's token with both scopes: the answer of each route (GET, POST with an empty JSON
# body). 405 a method the route does not have; 422 the empty body; 409 submitting a request
# already submitted. The enforcing authority's routes: the issuing officer is not the
# enforcing authority of its own order (an empty list, every order 404).
OWN = {
    "api:requests": (200, 422),
    "api:request": (200, 405),
    "api:submit": (405, 409),
    "api:withdraw": (405, 422),
    "api:targets": (200, 422),
    "api:documents": (200, 422),
    "api:messages": (200, 422),
    "api:deliveries": (200, 405),
    "api:delivery": (200, 405),
    "api:receipt": (200, 405),
    "api:events": (200, 405),
    "api:enforcing_orders": (200, 405),
    "api:enforcing_order": (404, 405),
    "api:enforcing_document": (404, 405),
    "api:enforcing_confirm": (405, 404),
    "api:enforcing_grounds": (405, 404),
}
# A token of the enforcing authority the order names (e-Evidence Art. 8), both scopes: the
# order on the issuing side is another authority's (404); on its own side it reads the order
# and its document; it has already confirmed no ground (the window is closed: 409), and the
# empty ground is refused by the form (422).
ENFORCER = {
    **{
        name: (404 if get != 405 else 405, 404 if post != 405 else 405)
        for name, (get, post) in OWN.items()
    },
    "api:requests": (200, 422),
    "api:events": (200, 405),
    "api:enforcing_orders": (200, 405),
    "api:enforcing_order": (200, 405),
    "api:enforcing_document": (200, 405),
    "api:enforcing_confirm": (405, 409),
    "api:enforcing_grounds": (405, 422),
}
# A token of another authority: the collections answer (empty), every object is 404 (405, a
# method the route does not have, is answered before any lookup, as in the pages: it reveals
# nothing).
OTHER = {
    name: tuple(404 if name in OBJECT_ROUTES and status != 405 else status for status in OWN[name])
    for name in OWN
}
# A read-only token: reads as the owner's; any POST is 403 before anything is looked up.
READ = {name: (get, 403) for name, (get, _) in OWN.items()}
# A submit-only token: any GET is 403; POSTs as the owner's.
SUBMIT = {name: (403, post) for name, (_, post) in OWN.items()}
# Reading the orders needs `read`, deciding needs `submit` (docs/api.md, "Scopes").
ENFORCER_READ = {name: (get, 403) for name, (get, _) in ENFORCER.items()}
ENFORCER_SUBMIT = {name: (403, post) for name, (_, post) in ENFORCER.items()}
EVERY = dict.fromkeys(OWN)
EXPECTED = {
    "none": dict.fromkeys(EVERY, (401, 401)),
    "unknown": dict.fromkeys(EVERY, (401, 401)),
    "unapproved": dict.fromkeys(EVERY, (401, 401)),
    "revoked": dict.fromkeys(EVERY, (401, 401)),
    "expired": dict.fromkeys(EVERY, (401, 401)),
    "wrong_ip": dict.fromkeys(EVERY, (403, 403)),
    "blocked_officer": dict.fromkeys(EVERY, (403, 403)),
    "other_authority": OTHER,
    "read": READ,
    "submit": SUBMIT,
    "own": OWN,
    "enforcer": ENFORCER,
    "enforcer_read": ENFORCER_READ,
    "enforcer_submit": ENFORCER_SUBMIT,
    # The registry re-check: its authority suspended, the enforcer's token stops at once.
    "enforcer_suspended": dict.fromkeys(EVERY, (403, 403)),
}


@pytest.fixture
def world(client, officer, colleague, outsider, staff, reviewer, enforcer, settings):
    """Officer A's EPOC, notified to the enforcing authority (which confirmed no ground),
    partly answered; and a token of each kind."""
    settings.PORTAL_RATE_SUBMISSION = settings.PORTAL_RATE_UPLOAD = "10000/h"
    _, own = approved_client(officer, staff)
    notified = epoc_body(enforcing_notified=True, enforcing_authority=enforcer.authority_id)
    draft = call(client, "post", "/api/v1/requests/", own, notified, new_key()).json()
    upload(client, own, draft["id"])
    call(client, "post", f"/api/v1/requests/{draft['id']}/submit/", own, {})
    receipts_issue_all_due()  # as the worker does after the submission
    legal_request = LegalRequest.objects.get(public_id=draft["id"])
    enforcing.enforcing_confirm_no_ground(officer=enforcer, legal_request=legal_request)
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=legal_request,
        partial=True,
        note="partial",
        files=[SimpleUploadedFile("export.csv", b"a,b\n")],
    )
    tokens = {"none": None, "unknown": "lrp_00000000_unknown", "own": own}
    tokens["read"] = approved_client(officer, staff, scopes=["read"])[1]
    tokens["submit"] = approved_client(officer, staff, scopes=["submit"])[1]
    tokens["other_authority"] = approved_client(outsider, staff)[1]
    tokens["wrong_ip"] = approved_client(officer, staff, allowed_ips="192.0.2.0/24")[1]
    _, tokens["unapproved"] = services.api_client_register(
        officer=officer, name="x", scopes=["read", "submit"], days=5
    )
    revoked, tokens["revoked"] = approved_client(officer, staff)
    services.api_client_revoke(user=officer, client=revoked)
    expired, tokens["expired"] = approved_client(officer, staff)
    ApiClient.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    tokens["enforcer"] = tokens["enforcer_suspended"] = approved_client(enforcer, staff)[1]
    tokens["enforcer_read"] = approved_client(enforcer, staff, scopes=["read"])[1]
    tokens["enforcer_submit"] = approved_client(enforcer, staff, scopes=["submit"])[1]
    blocked, tokens["blocked_officer"] = approved_client(colleague, staff)
    colleague.approved_at = None
    colleague.save()
    return legal_request, tokens


def fill(name, pattern, legal_request) -> str:
    kwargs = {}
    for param in pattern.pattern.regex.groupindex:
        if param == "public_id":
            kwargs[param] = legal_request.public_id
        elif param == "produced_id":
            kwargs[param] = legal_request.produced.get().public_id
        elif param == "attachment_id":
            kwargs[param] = legal_request.attachments.get().public_id
    return reverse(name, kwargs=kwargs)


def api_routes():
    return [
        (name, pattern)
        for name, pattern in walk(get_resolver())
        if name.startswith("api:") and name not in ("api:schema", "api:docs")
    ]


def test_every_api_route_has_an_expected_row():
    assert sorted(name for name, _ in api_routes()) == sorted(OWN)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_api_route_for_every_token(kind, client, world, settings):
    settings.PORTAL_RATE_API = "10000/h"
    legal_request, tokens = world
    if kind == "enforcer_suspended":
        enforcing_authority = legal_request.enforcing_authority
        enforcing_authority.status = AuthorityStatus.SUSPENDED
        enforcing_authority.save()
    problems = []
    for name, pattern in api_routes():
        url = fill(name, pattern, legal_request)
        for method, want in zip(("get", "post"), EXPECTED[kind][name], strict=True):
            response = call(client, method, url, tokens[kind], None if method == "get" else {})
            if response.status_code != want:
                problems.append((kind, method.upper(), name, response.status_code, want))
            elif want >= 400:
                assert response["Content-Type"] == "application/problem+json", (kind, name)
    assert problems == [], "\n".join(map(str, problems))
