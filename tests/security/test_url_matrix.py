"""Every URL pattern x every role x GET and POST, with the expected status of each cell.

The URL list comes from the resolver, so a new URL without an entry in EXPECTED fails this test.
Another authority's objects are 404. The matrix size and the unexpected cells are printed."""

import uuid

import pytest
from django.contrib.admin import site as admin_site
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from authorities.accounts import email_verification_token
from authorities.constants import Instrument
from authorities.models import User
from portal.services import heartbeat_record
from requests_app import enforcing
from requests_app.models import LegalRequest, Status
from requests_app.receipts import receipts_issue_all_due
from requests_app.review import services as review_services
from tests.conftest import passkey_login, verified_login
from tests.factories import PASSWORD, OfficerFactory, totp_device
from tests.figures import record
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "password_only",
    "unapproved",
    "officer_a",
    "officer_b",
    "reviewer",
    "lead",
    "auditor",
    "staff",
    "enforcer",
]

# Per URL name: {role: (GET, POST)}. "*" is every role not listed. Statuses:
# 200 page, 302 redirect (to login / second factor / after an action), 404 not for you,
# 405 method not allowed (answered before any lookup, so it reveals nothing), 429 never.
PUBLIC_FORM = {"*": (200, 200)}
LOGIN_FIRST = {"anonymous": (302, 302), "password_only": (302, 302)}


def everyone_else(get_post, **roles):
    return {**LOGIN_FIRST, "*": get_post, **roles}


OFFICER_OWN_GET = everyone_else(
    (404, 404), officer_a=(200, 405), officer_b=(404, 405), unapproved=(404, 405)
)
OFFICER_OWN_POST = everyone_else((404, 404), officer_a=(405, 302))
OFFICER_OWN_POST["officer_b"] = (405, 404)
OFFICER_OWN_POST["unapproved"] = (405, 404)
LEGAL_GET = everyone_else((404, 404), reviewer=(200, 405), lead=(200, 405), auditor=(200, 405))
LEAD_GET = everyone_else((404, 404), lead=(200, 405), auditor=(200, 405))
# The enforcing authority's officer (e-Evidence Art. 8): only the orders naming its authority.
ENFORCER_GET = everyone_else((404, 404), enforcer=(200, 405))
# Its actions need a fresh code: without one, back to the page with the reason (302).
ENFORCER_POST = everyone_else((404, 404), enforcer=(405, 302))

API_TOKEN_URLS = [
    f"api:{name}"
    for name in (
        "requests",
        "request",
        "submit",
        "withdraw",
        "targets",
        "documents",
        "messages",
        "deliveries",
        "delivery",
        "receipt",
        "events",
        "enforcing_orders",
        "enforcing_order",
        "enforcing_document",
        "enforcing_confirm",
        "enforcing_grounds",
    )
]

EXPECTED = {
    "landing": {"*": (200, 405)},
    "healthz": {"*": (200, 405)},
    # Prometheus' scrape (bearer token) or verified staff; to anyone else it does not exist.
    "metrics": {"*": (404, 404), "staff": (200, 405)},
    # The language picker: public, POST only (Django's set_language, then a redirect).
    "set_language": {"*": (405, 302)},
    "home": everyone_else((200, 200)),
    "ops_status": everyone_else((404, 404), staff=(200, 302)),
    "authorities:signup": {
        **PUBLIC_FORM,
    },
    "authorities:verify_email": {"*": (200, 200)},
    "authorities:login": {
        "anonymous": (200, 200),
        "password_only": (200, 200),
        "*": (302, 302),  # already verified: sent on
    },
    "authorities:otp": {"anonymous": (302, 302), "password_only": (200, 200), "*": (302, 302)},
    "authorities:enrol": {"anonymous": (302, 302), "*": (302, 302)},
    "authorities:logout": {"anonymous": (302, 302), "*": (405, 302)},
    "authorities:password_reset": {"*": (200, 200)},
    "authorities:password_reset_done": {"*": (200, 405)},
    # An invalid reset link: a page saying so, for anyone.
    "authorities:password_reset_confirm": {"*": (200, 200)},
    "authorities:password_reset_complete": {"*": (200, 405)},
    "authorities:officers": everyone_else((404, 404)),
    "authorities:account": everyone_else((200, 200)),
    # Passkeys: the page (a POST without an action shows it again); the WebAuthn JSON views take
    # POST only. Authentication is a login step (a verified session may re-confirm with it);
    # registration needs a verified session and a fresh code first (403 without).
    "authorities:passkeys": everyone_else((200, 200)),
    "authorities:passkey_register_begin": everyone_else((405, 403)),
    "authorities:passkey_register_complete": everyone_else((405, 403)),
    "authorities:passkey_auth_begin": {"anonymous": (302, 302), "*": (405, 200)},
    # Complete without the browser's answer: refused (the begin cell left a challenge).
    "authorities:passkey_auth_complete": {"anonymous": (302, 302), "*": (405, {400, 422})},
    "authorities:email_confirm": everyone_else((200, 302)),
    # The backup codes just shown, as a file: POST only, with the codes (none here: 400).
    "authorities:backup_codes_download": everyone_else((405, 400)),
    # "Stay signed in" of the idle-timeout warning: POST only, any verified session (JSON).
    "authorities:keep_alive": everyone_else((405, 200)),
    "requests:list": everyone_else(
        (404, 404), unapproved=(200, 405), officer_a=(200, 405), officer_b=(200, 405)
    ),
    "requests:new": everyone_else(
        (404, 404), unapproved=(200, 405), officer_a=(200, 405), officer_b=(200, 405)
    ),
    "requests:create": everyone_else(
        (404, 404), unapproved=(302, 302), officer_a=(200, 200), officer_b=(200, 200)
    ),
    "requests:detail": OFFICER_OWN_GET,
    "requests:edit": everyone_else((404, 404), officer_a=(200, 200)),
    "requests:message": OFFICER_OWN_POST,
    "requests:withdraw": OFFICER_OWN_POST,
    # Filled with the submitted request: refused (not a draft), back to its page with the reason.
    "requests:delete_draft": OFFICER_OWN_POST,
    # Copy for a follow-up: POST only, a new draft of one's own, then its form (302).
    "requests:copy": OFFICER_OWN_POST,
    "requests:preservation": OFFICER_OWN_POST,
    # The ex post validation of an emergency order (Art. 4(5)); POST only, with a document.
    "requests:validation": OFFICER_OWN_POST,
    "requests:notice": OFFICER_OWN_GET,
    # The sealed receipt of the submitted request (issue 18).
    "requests:receipt": OFFICER_OWN_GET,
    # A sealed notice (refusal, clarification) or delivery manifest of that request (issue 18).
    "requests:sealed": OFFICER_OWN_GET,
    "requests:produced": OFFICER_OWN_GET,
    "requests:attachment": OFFICER_OWN_GET,
    "review:queue": LEGAL_GET,
    "review:dashboard": LEAD_GET,
    "review:access_log": LEAD_GET,
    "review:report_csv": LEAD_GET,
    "review:detail": LEGAL_GET,
    "review:attachment": LEGAL_GET,
    "enforcing:list": ENFORCER_GET,
    "enforcing:detail": ENFORCER_GET,
    "enforcing:attachment": ENFORCER_GET,
    "enforcing:confirm": ENFORCER_POST,
    "enforcing:grounds": ENFORCER_POST,
    # The auditor reads every request but may do nothing to it: 403 to any action.
    "review:action": everyone_else(
        (404, 404), reviewer=(405, 302), lead=(405, 302), auditor=(405, 403)
    ),
    # The API (issue 19): a bearer token or nothing. A session, whatever its role, is no token:
    # 401 to every method (tests/api/test_api_access.py tests the tokens). The schema is public;
    # its documentation page is a page like the others.
    **{name: {"*": (401, 401)} for name in API_TOKEN_URLS},
    "api:schema": {"*": (200, 405)},
    "api:docs": everyone_else((200, 405)),
    # The officer's API clients: register (an empty post shows the form again), revoke (POST
    # only; a client of someone else, here an unknown one, is 404), and the confirmation of an
    # emergency a client asked to submit (none waits for the submitted request: 404).
    "api_clients:list": everyone_else(
        (404, 404), unapproved=(200, 200), officer_a=(200, 200), officer_b=(200, 200)
    ),
    "api_clients:revoke": everyone_else(
        (404, 404), unapproved=(405, 404), officer_a=(405, 404), officer_b=(405, 404)
    ),
    "api_clients:confirm": everyone_else((404, 404)),
    # A client's page with its webhook (an unknown client, or anyone else's, is 404); rotating
    # the secret and turning the webhook off are POST only.
    "api_clients:detail": everyone_else((404, 404)),
    "api_clients:webhook_rotate": everyone_else(
        (404, 404), unapproved=(405, 404), officer_a=(405, 404), officer_b=(405, 404)
    ),
    "api_clients:webhook_disable": everyone_else(
        (404, 404), unapproved=(405, 404), officer_a=(405, 404), officer_b=(405, 404)
    ),
}
# The enforcing authority's officer is an officer of another authority on the officers' pages:
# the same sign-up and registry check, none of officer A's requests (404 as for officer B).
for _row in EXPECTED.values():
    if "officer_b" in _row and "enforcer" not in _row:
        _row["enforcer"] = _row["officer_b"]
# Staff: the page, a redirect, 405 for the other method, or 403 where the admin refuses (adding
# or deleting records that nobody adds or deletes, an autocomplete without its parameters).
ADMIN = {**LOGIN_FIRST, "*": (404, 404), "staff": ({200, 302, 403, 405}, {200, 302, 403, 405})}
# Admin pages that differ from ADMIN. No staff path sets a password: Django's password page of
# the user admin answers 404 to staff too.
EXPECTED["admin:authorities_user_password_change"] = {**LOGIN_FIRST, "*": (404, 404)}
EXPECTED["admin:auth_user_password_change"] = {**LOGIN_FIRST, "*": (404, 404)}
# No model of the admin has a public page ("View on site"): nothing to redirect to.
EXPECTED["admin:view_on_site"] = {**LOGIN_FIRST, "*": (404, 404)}
# The Approve button of an officer's page: POST only, back to the page with the outcome.
EXPECTED["admin:authorities_user_approve"] = {**LOGIN_FIRST, "*": (404, 404), "staff": (405, 302)}


def walk(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            yield from walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), entry


@pytest.fixture
def world(client, officer, outsider, reviewer, lead, auditor, staff, authority, enforcer):
    """Officer A's objects (a refused, partly answered EPOC with documents, notified to the
    enforcing authority, which confirmed no ground; a draft), and one user per role."""
    heartbeat_record(name="deadline-sweep")
    unapproved = OfficerFactory(
        authority=authority, email="new@interieur.gouv.fr", approved_at=None
    )
    totp_device(unapproved)
    password_only = OfficerFactory(authority=authority, email="half@interieur.gouv.fr")
    totp_device(password_only)
    verified_login(client, officer)
    notified = {"enforcing_notified": "on", "enforcing_authority": enforcer.authority_id}
    submit(client, Instrument.EPOC, {**VALID[Instrument.EPOC], **notified})
    receipts_issue_all_due()  # as the worker does after the submission
    legal_request = LegalRequest.objects.exclude(status=Status.DRAFT).get()
    enforcing.enforcing_confirm_no_ground(officer=enforcer, legal_request=legal_request)
    submit(client, Instrument.INQUIRY, action="draft")
    draft = LegalRequest.objects.get(status=Status.DRAFT)
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=legal_request,
        partial=True,
        note="partial",
        files=[SimpleUploadedFile("export.csv", b"a,b\n")],
    )
    review_services.legal_request_refuse(
        reviewer=reviewer, legal_request=legal_request, ground="other", explanation="x"
    )
    client.logout()
    return {
        "users": {
            "password_only": password_only,
            "unapproved": unapproved,
            "officer_a": officer,
            "officer_b": outsider,
            "reviewer": reviewer,
            "lead": lead,
            "auditor": auditor,
            "staff": staff,
            "enforcer": enforcer,
        },
        "legal_request": legal_request,
        "draft": draft,
    }


def fill(name: str, pattern: URLPattern, world) -> str:
    legal_request, draft = world["legal_request"], world["draft"]
    officer = world["users"]["officer_a"]
    params = list(pattern.pattern.regex.groupindex)
    kwargs = {}
    for param in params:
        if param == "public_id":
            kwargs[param] = (draft if name in ("requests:edit",) else legal_request).public_id
        elif param == "attachment_id":
            kwargs[param] = getattr(legal_request.attachments.first(), "public_id", uuid.uuid4())
        elif param == "produced_id":
            kwargs[param] = getattr(legal_request.produced.first(), "public_id", uuid.uuid4())
        elif param == "document_id":
            kwargs[param] = getattr(
                legal_request.sealed_documents.first(), "public_id", uuid.uuid4()
            )
        elif param == "instrument":
            kwargs[param] = "inquiry"
        elif param == "name":
            kwargs[param] = "assign"
        elif param == "token" and name == "authorities:verify_email":
            kwargs[param] = email_verification_token(officer)
        elif param == "token" and name == "authorities:email_confirm":
            kwargs[param] = "not-a-real-token"
        elif param == "uidb64":
            kwargs[param] = urlsafe_base64_encode(force_bytes(officer.pk))
            kwargs["token"] = "set-password"
        elif param == "token":
            continue
        elif param in ("object_id", "pk"):
            kwargs[param] = str(User.objects.get(email=officer.email).pk)
        elif param == "app_label":
            kwargs[param] = "authorities"
        elif param in ("content_type_id",):
            kwargs[param] = "1"
        elif param == "url":
            kwargs[param] = "nothing/"
        else:
            kwargs[param] = str(uuid.uuid4())
    return reverse(name, kwargs=kwargs)


def log_in_as(client, role: str, world) -> None:
    client.logout()
    if role == "anonymous":
        return
    user = world["users"][role]
    if role == "password_only":
        client.post(reverse("authorities:login"), {"username": user.email, "password": PASSWORD})
        return
    if role == "staff":
        passkey_login(client, user)  # the admin needs a passkey session (test_passkeys.py)
        return
    verified_login(client, user)


def expected_for(name: str, role: str):
    table = EXPECTED.get(name, ADMIN) if name.startswith("admin:") else EXPECTED[name]
    get_post = table.get(role, table.get("*"))
    return tuple(v if isinstance(v, set) else {v} for v in get_post)


def test_every_url_has_an_expected_row():
    names = [name for name, _ in walk(get_resolver())]
    missing = [n for n in names if not n.startswith("admin:") and n not in EXPECTED]
    assert missing == [], f"URLs without an expected row: {missing}"
    assert len(admin_site._registry) >= 5
    assert not any("totpdevice" in n for n in names)  # nobody sees a second factor's secret


# One test per role, so that pytest-xdist spreads the matrix over its workers (make check);
# the run prints the whole matrix's figure (tests/figures.py).
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.figure("url matrix")
def test_every_url_for_every_role_and_method(role, client, world, settings):
    # Rate limits are tested on their own; here one test sends hundreds of requests.
    for rate in ("SIGNUP", "LOGIN", "PASSWORD_RESET", "SUBMISSION", "UPLOAD"):
        setattr(settings, f"PORTAL_RATE_{rate}", "10000/h")
    patterns = list(walk(get_resolver()))
    cells = 0
    problems = []
    log_in_as(client, role, world)
    for name, pattern in patterns:
        url = fill(name, pattern, world)
        want_get, want_post = expected_for(name, role)
        for method, want in (("get", want_get), ("post", want_post)):
            status = getattr(client, method)(url).status_code
            cells += 1
            if status not in want:
                problems.append((role, method.upper(), name, status, sorted(want)))
            # Some cells act (a logout, a sign-out by re-check): log in again each time. The
            # admin's logout too, or every admin cell after it was checked logged out.
            if role != "anonymous" and name in (
                "authorities:logout",
                "authorities:login",
                "admin:logout",
            ):
                log_in_as(client, role, world)
    record("url matrix", (role, len(patterns), cells, len(problems)))
    assert problems == [], "\n".join(map(str, problems))
