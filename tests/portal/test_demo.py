from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from authorities.models import Authority, RegistryImport, User
from requests_app.models import Attachment, LegalRequest, Notification

pytestmark = pytest.mark.django_db


def counts():
    return [
        m.objects.count()
        for m in (Authority, User, RegistryImport, LegalRequest, Attachment, Notification)
    ]


def test_demo_data_loads_once_and_a_second_run_changes_nothing(settings):
    settings.DEBUG = True
    call_command("load_demo", stdout=StringIO())
    first = counts()
    assert first[0] == 19 and first[1] == 7 and first[3] == 4
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert counts() == first
    assert "0 submitted" in out.getvalue()


def test_demo_data_is_refused_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refused with DEBUG off"):
        call_command("load_demo", stdout=StringIO())
    assert User.objects.count() == 0
