"""/api/v1/enforcing/orders/: the enforcing authority's side of e-Evidence orders (Regulation
(EU) 2023/1543, Art. 8, 10, 12) for its case system, under the API's rules: the orders notified
to the caller's authority, their documents, confirm no ground for refusal, raise a ground.
Anyone else's token gets 404; a read token may not act; the registry re-check stops a
suspended enforcing authority; the pages' form and the service say what is wrong, by field."""

import pytest
from django.core.exceptions import ValidationError

from authorities.constants import AuthorityStatus
from requests_app import enforcing
from requests_app.api import webhooks
from requests_app.api.models import WebhookDelivery
from requests_app.models import AccessLog, LegalRequest, Notification, RequestEvent, Status
from requests_app.review import services as review_services
from tests.factories import AuthorityFactory, OfficerFactory, totp_device

from .helpers import approved_client, call, epoc_body, new_key
from .test_api_requests import upload

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/enforcing/orders/"
# An EPOC for traffic and content data: notified to the enforcing authority (Art. 8(1)).
NOTIFIED = {
    "data_categories": ["subscriber", "traffic", "content"],
    "threshold_met": True,
    "validating_authority": "Juge d'instruction, Tribunal judiciaire de Paris",
    "enforcing_notified": True,
    "enforcing_authority": "IE-DOJ",
}


@pytest.fixture
def order(client, officer, staff, enforcing_authority, settings) -> LegalRequest:
    """Officer A's notified EPOC, submitted through the API: on hold for the enforcing
    authority's window."""
    settings.PORTAL_RATE_SUBMISSION = settings.PORTAL_RATE_UPLOAD = "10000/h"
    _, token = approved_client(officer, staff)
    draft = call(client, "post", "/api/v1/requests/", token, epoc_body(**NOTIFIED), new_key())
    assert draft.status_code == 201, draft.content
    assert upload(client, token, draft.json()["id"]).status_code == 201
    submitted = call(client, "post", f"/api/v1/requests/{draft.json()['id']}/submit/", token, {})
    assert submitted.status_code == 200, submitted.content
    legal_request = LegalRequest.objects.get(public_id=draft.json()["id"])
    assert legal_request.on_hold() and legal_request.enforcing_authority_id == "IE-DOJ"
    return legal_request


@pytest.fixture
def enforcer_token(enforcer, staff) -> str:
    return approved_client(enforcer, staff)[1]


def url(legal_request, action: str = "") -> str:
    return f"{ORDERS}{legal_request.public_id}/{action + '/' if action else ''}"


def fresh(legal_request) -> LegalRequest:
    return LegalRequest.objects.get(pk=legal_request.pk)


def api_calls(user) -> list[str]:
    return list(
        AccessLog.objects.filter(user=user, action=AccessLog.Action.API_CALL).values_list(
            "object_ref", flat=True
        )
    )


def test_the_enforcer_lists_and_reads_the_orders_notified_to_its_authority(
    client, order, enforcer, enforcer_token
):
    listed = call(client, "get", ORDERS, enforcer_token)
    assert listed.status_code == 200, listed.content
    (row,) = listed.json()["results"]
    assert row["id"] == str(order.public_id) and row["reference"] == order.reference
    assert row["issuing_authority"]["id"] == order.authority_id
    assert row["on_hold"] is True and row["hold_until"] is not None

    read = call(client, "get", url(order), enforcer_token)
    assert read.status_code == 200, read.content
    body = read.json()
    assert body["data_categories"] == ["subscriber", "traffic", "content"]
    assert body["decision"] == {"allowed": True, "reason": ""}
    (document,) = body["documents"]
    download = call(client, "get", document["download"], enforcer_token)
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    # The pages' audit rows (the order viewed, its document opened) and one row per call.
    actions = set(
        AccessLog.objects.filter(user=enforcer, request=order).values_list("action", flat=True)
    )
    assert {AccessLog.Action.VIEW_REQUEST, AccessLog.Action.OPEN_ATTACHMENT} <= actions
    assert any(f"GET {url(order)} 200" in ref for ref in api_calls(enforcer))


def test_the_enforcer_confirms_no_ground_through_the_api(client, order, enforcer, enforcer_token):
    response = call(client, "post", url(order, "confirm"), enforcer_token, {})
    assert response.status_code == 200, response.content
    assert response.json()["on_hold"] is False
    assert response.json()["decision"]["allowed"] is False
    assert fresh(order).hold_released_at is not None
    event = RequestEvent.objects.get(request=order, kind=RequestEvent.Kind.ENFORCING_NO_GROUND)
    assert event.actor == enforcer
    # The issuing officer and the legal team are told, as after the page's button.
    assert Notification.objects.filter(request=order, template="enforcing_decision").exists()
    assert any(f"POST {url(order, 'confirm')} 200" in ref for ref in api_calls(enforcer))
    # The window is closed now: a second answer is a conflict, with the policy's reason.
    again = call(client, "post", url(order, "confirm"), enforcer_token, {})
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    assert "window for grounds for refusal is closed" in again.json()["detail"]


def test_the_enforcer_raises_a_ground_for_a_category_then_for_the_whole_order(
    client, order, enforcer, enforcer_token
):
    part = call(
        client,
        "post",
        url(order, "grounds"),
        enforcer_token,
        {"ground": "fundamental_rights", "categories": ["content"], "reasons": "Art. 11 Charter."},
    )
    assert part.status_code == 200, part.content
    assert part.json()["refused_categories"] == ["content"]
    assert part.json()["status"] != Status.REFUSED_BY_ENFORCING
    assert part.json()["grounds_raised"][0]["ground"] == "fundamental_rights"
    whole = call(
        client,
        "post",
        url(order, "grounds"),
        enforcer_token,
        {"ground": "ne_bis_in_idem", "reasons": "Judged in Ireland in 2025."},
    )
    assert whole.status_code == 200, whole.content
    assert fresh(order).status == Status.REFUSED_BY_ENFORCING
    assert order.enforcing_refusals.count() == 2
    assert [
        e.actor for e in RequestEvent.objects.filter(kind=RequestEvent.Kind.ENFORCING_GROUNDS)
    ] == [enforcer, enforcer]
    assert any(f"POST {url(order, 'grounds')} 200" in ref for ref in api_calls(enforcer))


@pytest.mark.parametrize(
    "body, field, words",
    [
        (
            {"ground": "not_a_ground", "reasons": "x"},
            "ground",
            "Select a valid choice. not_a_ground is not one of the available choices.",
        ),
        ({"ground": "ne_bis_in_idem", "reasons": "  "}, "reasons", "This field is required."),
        (
            {"ground": "ne_bis_in_idem", "categories": ["information"], "reasons": "x"},
            "categories",
            "Select a valid choice. information is not one of the available choices.",
        ),
        ({"ground": "ne_bis_in_idem", "categories": "content", "reasons": "x"}, "categories", ""),
        ({"ground": "ne_bis_in_idem", "reasons": "x", "otp_token": "123456"}, "otp_token", ""),
    ],
)
def test_invalid_grounds_are_problems_naming_the_field(
    client, order, enforcer_token, body, field, words
):
    response = call(client, "post", url(order, "grounds"), enforcer_token, body)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert field in [e["field"] for e in errors], errors
    if words:
        assert words in [e["detail"] for e in errors]
    assert not order.enforcing_refusals.exists()


def test_the_services_problems_name_their_field(order, enforcer):
    """A direct call of the service (the check the form cannot make: a category the order does
    not request, raced past the form) says which field failed, in the same words."""
    with pytest.raises(ValidationError) as raised:
        enforcing.enforcing_raise_grounds(
            officer=enforcer,
            legal_request=order,
            grounds=[("nothing", ["identification"], " ")],
        )
    assert raised.value.message_dict == {
        "ground": ["Choose a ground for refusal of Art. 12(1)."],
        "reasons": ["Give the reasons for each ground."],
        "categories": ["The order does not request identification."],
    }


def test_anyone_else_gets_404(client, order, officer, outsider, staff, enforcing_authority):
    """The issuing officer, an officer of another Member State, and an officer of another
    enforcing authority of the same State (an enforcer, but not the one the order names)."""
    other_enforcing = AuthorityFactory(
        id="IE-GARDA", country="IE", enforcing=True, domains=["garda.ie"]
    )
    garda = OfficerFactory(authority=other_enforcing, email="sean@garda.ie")
    totp_device(garda)
    for user in (officer, outsider, garda):
        _, token = approved_client(user, staff)
        assert call(client, "get", ORDERS, token).json()["results"] == []
        document = order.attachments.get().public_id
        for method, path in (
            ("get", url(order)),
            ("get", f"{url(order)}documents/{document}/"),
            ("post", url(order, "confirm")),
            ("post", url(order, "grounds")),
        ):
            response = call(client, method, path, token, None if method == "get" else {})
            assert response.status_code == 404, (user.email, path, response.content)
            assert response["Content-Type"] == "application/problem+json"
    assert fresh(order).hold_released_at is None


def test_the_enforcer_does_not_read_the_order_on_the_issuing_side(client, order, enforcer_token):
    response = call(client, "get", f"/api/v1/requests/{order.public_id}/", enforcer_token)
    assert response.status_code == 404


def test_a_read_token_may_not_decide_and_a_submit_token_may_not_read(
    client, order, enforcer, staff
):
    _, read = approved_client(enforcer, staff, scopes=["read"])
    _, submit = approved_client(enforcer, staff, scopes=["submit"])
    refused = call(client, "post", url(order, "confirm"), read, {})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This token does not have the submit scope."
    assert call(client, "post", url(order, "grounds"), read, {}).status_code == 403
    assert call(client, "get", url(order), read).status_code == 200
    unread = call(client, "get", ORDERS, submit)
    assert unread.status_code == 403
    assert unread.json()["detail"] == "This token does not have the read scope."
    assert fresh(order).hold_released_at is None


def test_a_suspended_enforcing_authority_gets_403_with_the_reason(
    client, order, enforcing_authority, enforcer_token
):
    enforcing_authority.status = AuthorityStatus.SUSPENDED
    enforcing_authority.save()
    for method, path in (("get", ORDERS), ("post", url(order, "confirm"))):
        response = call(client, method, path, enforcer_token, None if method == "get" else {})
        assert response.status_code == 403
        assert "is suspended in the registry" in response.json()["detail"]
    assert fresh(order).hold_released_at is None


def test_the_enforcer_events_feed_carries_its_orders_enforcing_events(
    client, order, officer, enforcer, enforcer_token, reviewer
):
    review_services.legal_request_accept(reviewer=reviewer, legal_request=order)
    call(client, "post", url(order, "confirm"), enforcer_token, {})
    events = call(client, "get", "/api/v1/events/", enforcer_token).json()["events"]
    kinds = [e["kind"] for e in events if e["request"] == str(order.public_id)]
    # The notification (the order received) and the decision; not the platform's review.
    assert kinds == ["submitted", "enforcing_no_ground"]


def test_the_enforcer_client_webhook_is_told_of_its_orders_decisions(
    client, officer, enforcer, enforcing_authority, staff, settings
):
    settings.PORTAL_WEBHOOKS_ALLOW_INSECURE_LOOPBACK = True
    settings.PORTAL_RATE_SUBMISSION = settings.PORTAL_RATE_UPLOAD = "10000/h"
    enforcer_client, enforcer_token = approved_client(enforcer, staff)
    webhooks.webhook_endpoint_set(
        officer=enforcer, client=enforcer_client, url="http://127.0.0.1:9/enforcing"
    )
    _, token = approved_client(officer, staff)
    draft = call(client, "post", "/api/v1/requests/", token, epoc_body(**NOTIFIED), new_key())
    upload(client, token, draft.json()["id"])
    call(client, "post", f"/api/v1/requests/{draft.json()['id']}/submit/", token, {})
    order = LegalRequest.objects.get(public_id=draft.json()["id"])
    call(client, "post", url(order, "confirm"), enforcer_token, {})
    told = WebhookDelivery.objects.filter(endpoint__client=enforcer_client)
    assert sorted(told.values_list("event_type", flat=True)) == [
        "request.enforcing_no_ground",
        "request.submitted",
    ]


def test_a_retried_ground_with_the_same_key_is_raised_once(client, order, enforcer_token):
    body = {"ground": "fundamental_rights", "categories": ["traffic"], "reasons": "Charter."}
    key = new_key()
    first = call(client, "post", url(order, "grounds"), enforcer_token, body, key)
    second = call(client, "post", url(order, "grounds"), enforcer_token, body, key)
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert order.enforcing_refusals.count() == 1
