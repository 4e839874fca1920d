from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from authorities.models import Authority, RegistryImport, User
from requests_app import policies
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
    assert first[0] == 20 and first[1] == 9 and first[3] == 4
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert counts() == first
    assert "0 submitted" in out.getvalue()


def test_each_demo_platform_account_has_its_role(settings):
    settings.DEBUG = True
    call_command("load_demo", stdout=StringIO())
    groups = {
        user.email: sorted(user.groups.values_list("name", flat=True))
        for user in User.objects.filter(email__endswith="@platform.example")
    }
    assert groups == {
        "admin@platform.example": [],
        "lead@platform.example": ["lead"],
        "reviewer@platform.example": ["reviewer"],
        "auditor@platform.example": ["auditor"],
    }
    auditor = User.objects.get(email="auditor@platform.example")
    assert policies.has(auditor, policies.Capability.VIEW_AUDIT)
    assert not policies.has(auditor, policies.Capability.REVIEW)


def test_demo_data_is_refused_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refused with DEBUG off"):
        call_command("load_demo", stdout=StringIO())
    assert User.objects.count() == 0
