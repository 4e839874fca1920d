"""The enforcing authority of e-Evidence orders (Regulation (EU) 2023/1543, Art. 8, 10, 12):
notification or the Art. 8(2) statement, the hold window, grounds for refusal, its own pages."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from requests_app import enforcing
from requests_app.checks import NOT_A_MEMBER_STATE, check_enforcing_state
from requests_app.lifecycle import TransitionError
from requests_app.models import (
    AccessLog,
    CallbackVerification,
    DisclosureApproval,
    EnforcingGround,
    LegalRequest,
    Notification,
    RequestEvent,
    Status,
)
from requests_app.notifications import deliver_all_due
from requests_app.review import services as review_services
from tests.conftest import current_code, passkey_login, verified_login
from tests.factories import AuthorityFactory, OfficerFactory
from tests.requests_app.helpers import VALID, submit


def test_system_check_refuses_an_enforcing_state_outside_the_eu(settings):
    settings.PORTAL_ENFORCING_STATE = "CH"
    assert [e.id for e in check_enforcing_state()] == [NOT_A_MEMBER_STATE]
    settings.PORTAL_ENFORCING_STATE = "EL"  # Greece is GR in ISO 3166
    assert [e.id for e in check_enforcing_state()] == [NOT_A_MEMBER_STATE]
    settings.PORTAL_ENFORCING_STATE = "IE"
    assert check_enforcing_state() == []


# --- Orders moved through time ---------------------------------------------------------------

START = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("UTC"))
NOTIFIED_EPOC = {
    **VALID[Instrument.EPOC],
    "data_categories": ["subscriber", "traffic", "content"],
    "threshold_met": "on",
    "validating_authority": "Juge d'instruction, Tribunal judiciaire de Paris",
    "enforcing_notified": "on",
}


def notified_epoc(client, officer, enforcing_authority, when=START, **extra) -> LegalRequest:
    """A notified EPOC submitted through the officer's page at `when`, accepted for review."""
    with time_machine.travel(when, tick=False):
        emergency = bool(extra.get("is_emergency"))
        (passkey_login if emergency else verified_login)(client, officer)
        data = {**NOTIFIED_EPOC, "enforcing_authority": enforcing_authority.pk, **extra}
        response = submit(client, Instrument.EPOC, data)
        assert response.status_code == 302, response.content.decode()[:2000]
        legal_request = LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")
        client.logout()
    return legal_request


def accept(legal_request, reviewer, when):
    with time_machine.travel(when, tick=False):
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)


def respond(legal_request, reviewer, when, categories=None):
    with time_machine.travel(when, tick=False):
        return review_services.legal_request_respond(
            reviewer=reviewer,
            legal_request=fresh(legal_request),
            files=[SimpleUploadedFile("export.csv", b"a,b\n")],
            categories=categories,
        )


def fresh(legal_request) -> LegalRequest:
    return LegalRequest.objects.get(pk=legal_request.pk)


def enforcing_emails(legal_request) -> list[tuple[str, ...]]:
    return sorted(
        tuple(n.recipients)
        for n in Notification.objects.filter(request=legal_request, template="enforcing_decision")
    )


def test_the_form_preselects_the_enforcing_authority_of_the_enforcing_state(
    client, officer, enforcing_authority
):
    AuthorityFactory(id="IE-OTHER", country="IE", domains=["other.ie"])  # not enforcing
    AuthorityFactory(id="BE-ENF", country="BE", enforcing=True, domains=["enf.be"])  # not IE
    verified_login(client, officer)
    form = client.get(reverse("requests:create", args=[Instrument.EPOC])).context["form"]
    field = form.fields["enforcing_authority"]
    assert [a.pk for a in field.queryset] == ["IE-DOJ"]
    assert form["enforcing_authority"].value() == enforcing_authority.pk
    assert "art8_2_statement" in form.fields and "enforcing_notified" in form.fields
    tco = client.get(reverse("requests:create", args=[Instrument.TCO_REMOVAL])).context["form"]
    assert "enforcing_notified" not in tco.fields


def test_traffic_data_without_notification_or_statement_is_not_submitted(
    client, officer, enforcing_authority
):
    verified_login(client, officer)
    data = {**NOTIFIED_EPOC}
    del data["enforcing_notified"]
    response = submit(client, Instrument.EPOC, data)
    # Refused with the reason on the page, and nothing stored (a failed submission keeps no draft).
    assert response.status_code == 200 and not LegalRequest.objects.exists()
    assert "Art. 8(2) exception" in response.content.decode()

    # With the officer's Art. 8(2) statement instead, it goes, and nothing is held.
    statement = "The fraud was committed in Paris; the suspect lives in Lyon."
    submit(client, Instrument.EPOC, {**data, "art8_2_statement": statement})
    submitted = LegalRequest.objects.exclude(status=Status.DRAFT).get()
    assert submitted.art8_2_statement == statement
    assert submitted.enforcing_authority is None and submitted.hold_until is None


def test_notified_epoc_cannot_be_answered_on_day_9_and_can_on_day_10(
    client, officer, reviewer, enforcing_authority
):
    legal_request = notified_epoc(client, officer, enforcing_authority)
    assert legal_request.hold_until == START + timedelta(days=10)
    # The internal deadline falls at the end of the hold, not before it.
    assert legal_request.due_at == START + timedelta(days=10)
    accept(legal_request, reviewer, START + timedelta(hours=1))

    day_9 = START + timedelta(days=9, hours=23, minutes=59)
    with timezone.override(ZoneInfo("Europe/Paris")), pytest.raises(TransitionError) as held:
        respond(legal_request, reviewer, day_9)
    # The reader's time zone: 10:00 UTC is 11:00 in Paris.
    assert "On hold for the enforcing authority (IE) until 2026-12-07 11:00 CET" in str(held.value)
    assert fresh(legal_request).status == Status.IN_REVIEW
    assert not fresh(legal_request).produced.exists()

    respond(legal_request, reviewer, START + timedelta(days=10))
    assert fresh(legal_request).status == Status.RESPONDED


def test_notified_emergency_epoc_is_held_96_hours(
    client, officer, reviewer, lead, enforcing_authority
):
    legal_request = notified_epoc(
        client,
        officer,
        enforcing_authority,
        is_emergency="on",
        emergency_justification="A hostage is held; the kidnappers use the account.",
    )
    assert legal_request.is_emergency
    assert legal_request.hold_until == START + timedelta(hours=96)
    # Not the emergency's 8 hours: the data may not go before the hold ends.
    assert legal_request.due_at == START + timedelta(hours=96)
    accept(legal_request, reviewer, START + timedelta(minutes=5))
    CallbackVerification.objects.create(
        request=legal_request,
        verified_by=reviewer,
        phone=officer.authority.callback_phone,
        outcome=CallbackVerification.Outcome.CONFIRMED,
    )
    DisclosureApproval.objects.create(request=legal_request, approved_by=lead)

    with pytest.raises(TransitionError, match="On hold for the enforcing authority"):
        respond(legal_request, reviewer, START + timedelta(hours=95, minutes=59))
    respond(legal_request, reviewer, START + timedelta(hours=96))
    assert fresh(legal_request).status == Status.RESPONDED


def test_early_confirmation_of_no_ground_unlocks_the_response(
    client, officer, reviewer, enforcer, enforcing_authority
):
    legal_request = notified_epoc(client, officer, enforcing_authority)
    accept(legal_request, reviewer, START + timedelta(hours=1))
    day_2 = START + timedelta(days=2)
    with time_machine.travel(day_2, tick=False):
        enforcing.enforcing_confirm_no_ground(officer=enforcer, legal_request=legal_request)
    assert fresh(legal_request).hold_released_at == day_2
    assert enforcing_emails(legal_request) == [(officer.email,), (reviewer.email,)]

    respond(legal_request, reviewer, day_2 + timedelta(minutes=1))
    assert fresh(legal_request).status == Status.RESPONDED
    # Confirmed once: the window is closed to a second decision.
    with time_machine.travel(day_2, tick=False), pytest.raises(TransitionError):
        enforcing.enforcing_raise_grounds(
            officer=enforcer,
            legal_request=legal_request,
            grounds=[(EnforcingGround.NE_BIS_IN_IDEM, [], "Already judged.")],
        )


def test_partial_refusal_blocks_one_category(
    client, officer, reviewer, enforcer, enforcing_authority
):
    legal_request = notified_epoc(client, officer, enforcing_authority)
    accept(legal_request, reviewer, START + timedelta(hours=1))
    with time_machine.travel(START + timedelta(days=3), tick=False):
        enforcing.enforcing_raise_grounds(
            officer=enforcer,
            legal_request=legal_request,
            grounds=[
                (EnforcingGround.IMMUNITY_OR_PRESS, ["content"], "A journalist's sources."),
            ],
        )
    legal_request = fresh(legal_request)
    assert legal_request.refused_categories == ["content"]
    assert legal_request.categories_left == ["subscriber", "traffic"]
    assert legal_request.status == Status.IN_REVIEW
    assert enforcing_emails(legal_request) == [(officer.email,), (reviewer.email,)]
    mail.outbox.clear()
    with time_machine.travel(START + timedelta(days=3, minutes=1), tick=False):
        deliver_all_due()
    told = {m.to[0]: m for m in mail.outbox}
    assert set(told) == {officer.email, reviewer.email}
    assert "refused part of the order" in told[reviewer.email].body
    assert f"/review/{legal_request.public_id}/" in told[reviewer.email].body
    assert f"/requests/{legal_request.public_id}/" in told[officer.email].body
    # Still held for the rest until the window ends (no confirmation of no further ground).
    with pytest.raises(TransitionError, match="On hold"):
        respond(legal_request, reviewer, START + timedelta(days=4), categories=["subscriber"])

    after = START + timedelta(days=10)
    with pytest.raises(ValidationError, match="refused content"):
        respond(legal_request, reviewer, after, categories=["subscriber", "content"])
    with pytest.raises(ValidationError, match="mark the data categories delivered"):
        respond(legal_request, reviewer, after)
    assert not fresh(legal_request).produced.exists()
    event = respond(legal_request, reviewer, after, categories=["subscriber", "traffic"])
    assert event.detail.startswith("Categories delivered: subscriber, traffic.")
    assert fresh(legal_request).status == Status.RESPONDED


def test_full_refusal_ends_the_request(client, officer, reviewer, enforcer, enforcing_authority):
    legal_request = notified_epoc(client, officer, enforcing_authority)
    with time_machine.travel(START + timedelta(days=1), tick=False):
        enforcing.enforcing_raise_grounds(
            officer=enforcer,
            legal_request=legal_request,
            grounds=[
                (EnforcingGround.DOUBLE_CRIMINALITY, ["traffic", "content"], "Not an offence."),
                (EnforcingGround.FUNDAMENTAL_RIGHTS, ["subscriber"], "Manifest breach."),
            ],
        )
    legal_request = fresh(legal_request)
    assert legal_request.status == Status.REFUSED_BY_ENFORCING
    assert legal_request.get_status_display() == "Refused by the enforcing authority"
    assert legal_request.refused_categories == ["subscriber", "traffic", "content"]
    assert enforcing_emails(legal_request) == [(officer.email,), (reviewer.email,)]
    assert legal_request.enforcing_refusals.count() == 2
    with pytest.raises(TransitionError):
        respond(legal_request, reviewer, START + timedelta(days=11), categories=["subscriber"])
    # Nothing left to lapse.
    with time_machine.travel(START + timedelta(days=11), tick=False):
        assert enforcing.holds_lapse() == 0


def test_lapsed_window_releases_the_hold_and_is_recorded_once(
    client, officer, reviewer, enforcer, enforcing_authority
):
    legal_request = notified_epoc(client, officer, enforcing_authority)
    accept(legal_request, reviewer, START + timedelta(hours=1))
    with time_machine.travel(START + timedelta(days=9), tick=False):
        assert enforcing.holds_lapse() == 0
    later = START + timedelta(days=10, minutes=1)
    with time_machine.travel(later, tick=False):
        assert enforcing.holds_lapse() == 1
        assert enforcing.holds_lapse() == 0  # a second sweep records nothing more
        with pytest.raises(TransitionError, match="window for grounds for refusal is closed"):
            enforcing.enforcing_confirm_no_ground(officer=enforcer, legal_request=legal_request)
    lapsed = RequestEvent.objects.filter(request=legal_request, kind=RequestEvent.Kind.HOLD_LAPSED)
    assert lapsed.count() == 1
    assert fresh(legal_request).hold_released_at == START + timedelta(days=10)
    respond(legal_request, reviewer, later)
    assert fresh(legal_request).status == Status.RESPONDED


def test_only_the_enforcing_authority_named_in_the_order_decides(
    client, officer, outsider, reviewer, enforcing_authority
):
    legal_request = notified_epoc(client, officer, enforcing_authority)
    other = OfficerFactory(
        authority=AuthorityFactory(id="IE-DPC", country="IE", enforcing=True, domains=["dpc.ie"]),
        email="x@dpc.ie",
    )
    with time_machine.travel(START + timedelta(days=1), tick=False):
        for user in (other, outsider, officer, reviewer):
            with pytest.raises(PermissionDenied):
                enforcing.enforcing_confirm_no_ground(officer=user, legal_request=legal_request)
    assert fresh(legal_request).hold_released_at is None


# --- The pages --------------------------------------------------------------------------------


def test_queue_and_detail_show_the_hold_in_the_readers_time_zone(
    client, officer, reviewer, enforcing_authority
):
    legal_request = notified_epoc(client, officer, enforcing_authority)
    reviewer.time_zone = "Europe/Dublin"
    reviewer.save(update_fields=["time_zone"])
    held = "On hold for the enforcing authority (IE) until 2026-12-07 10:00 GMT"
    with time_machine.travel(START + timedelta(days=1), tick=False):
        verified_login(client, reviewer)
        assert held in client.get(reverse("review:queue")).content.decode()
        page = client.get(reverse("review:detail", args=[legal_request.public_id]))
        assert held in page.content.decode()
        assert not page.context["actions"]["respond"]  # no respond form while held
        verified_login(client, officer)
        page = client.get(reverse("requests:detail", args=[legal_request.public_id]))
        assert "On hold for the enforcing authority (IE) until 2026-12-07" in page.content.decode()
    with time_machine.travel(START + timedelta(days=10), tick=False):
        verified_login(client, reviewer)
        assert "On hold" not in client.get(reverse("review:queue")).content.decode()


def test_enforcer_sees_only_the_orders_naming_its_authority(
    client, officer, enforcer, enforcing_authority
):
    named = notified_epoc(client, officer, enforcing_authority)
    other_enforcing = AuthorityFactory(
        id="IE-DPC", country="IE", enforcing=True, domains=["dpc.ie"]
    )
    elsewhere = notified_epoc(client, officer, other_enforcing)
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        verified_login(client, enforcer)
        listed = client.get(reverse("enforcing:list")).context["orders"]
        assert [o.pk for o in listed] == [named.pk]
        elsewhere_page = client.get(reverse("enforcing:detail", args=[elsewhere.public_id]))
        assert elsewhere_page.status_code == 404
        page = client.get(reverse("enforcing:detail", args=[named.public_id]))
        assert page.status_code == 200
        assert NOTIFIED_EPOC["statement_of_reasons"] in page.content.decode()
        document = named.attachments.get()
        download = client.get(
            reverse("enforcing:attachment", args=[named.public_id, document.public_id])
        )
        assert download.status_code == 200
        assert b"".join(download.streaming_content).startswith(b"%PDF")
        outside = client.get(
            reverse("enforcing:attachment", args=[elsewhere.public_id, document.public_id])
        )
        assert outside.status_code == 404
    logged = AccessLog.objects.filter(user=enforcer).values_list("action", "request_id")
    assert sorted(logged) == sorted(
        [
            (AccessLog.Action.VIEW_REQUEST, named.pk),
            (AccessLog.Action.OPEN_ATTACHMENT, named.pk),
        ]
    )


def test_enforcer_actions_need_a_fresh_code(client, officer, enforcer, enforcing_authority):
    legal_request = notified_epoc(client, officer, enforcing_authority)
    device = enforcer.totpdevice_set.get()
    with time_machine.travel(START + timedelta(days=1)):
        verified_login(client, enforcer)
        confirm = reverse("enforcing:confirm", args=[legal_request.public_id])
        grounds = reverse("enforcing:grounds", args=[legal_request.public_id])
        client.post(grounds, {"ground": "ne_bis_in_idem", "reasons": "Judged.", "otp_token": ""})
        client.post(confirm, {"otp_token": "000000"})
        assert fresh(legal_request).hold_released_at is None
        assert not legal_request.enforcing_refusals.exists()

        response = client.post(
            grounds,
            {
                "ground": "immunity_or_press",
                "categories": ["content"],
                "reasons": "Sources of a journalist.",
                "otp_token": current_code(device),
            },
        )
        assert response.status_code == 302
        assert fresh(legal_request).refused_categories == ["content"]
    with time_machine.travel(START + timedelta(days=1, minutes=1)):
        response = client.post(confirm, {"otp_token": current_code(device)})
        assert response.status_code == 302
    assert fresh(legal_request).hold_released_at is not None
    kinds = list(
        RequestEvent.objects.filter(request=legal_request, actor=enforcer).values_list(
            "kind", flat=True
        )
    )
    assert kinds == [RequestEvent.Kind.ENFORCING_GROUNDS, RequestEvent.Kind.ENFORCING_NO_GROUND]
