import pytest
from django.utils import translation

from authorities.constants import AuthorityStatus
from requests_app.models import LegalRequest, Status
from tests.factories import AuthorityFactory


def test_labels_follow_the_active_language_though_the_map_is_built_once():
    legal_request = LegalRequest(status=Status.SUBMITTED)

    with translation.override("en"):
        english = legal_request.get_status_display()
    with translation.override("fr"):
        french = legal_request.get_status_display()
    with translation.override("en"):
        again = legal_request.get_status_display()

    assert english == again == str(Status.SUBMITTED.label)
    assert french != english and isinstance(french, str)


def test_a_value_outside_the_choices_is_shown_as_it_is():
    assert LegalRequest(status="no-such-status").get_status_display() == "no-such-status"
    assert LegalRequest(due_at=None).get_instrument_display() == ""


@pytest.mark.django_db
def test_labels_of_each_model_are_its_own():
    authority = AuthorityFactory(status=AuthorityStatus.SUSPENDED, status_reason="test")

    assert authority.get_status_display() == AuthorityStatus.SUSPENDED.label
    assert LegalRequest(status=Status.CLOSED).get_status_display() == Status.CLOSED.label
