"""Backup codes, shown once at enrolment (issue 17): they can be downloaded as a text file and
printed, without the portal ever keeping them in clear or showing them again. The download
echoes only what the page holds: the user's own codes, still unused, checked against their
hashes."""

import re

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from authorities.models import BackupCodeDevice
from tests.conftest import current_code, verified_login
from tests.factories import PASSWORD, OfficerFactory

pytestmark = pytest.mark.django_db

CODE = re.compile(r"<li>([0-9a-f]{5}-[0-9a-f]{5})</li>")


def enrolled(client, authority, email="codes@interieur.gouv.fr"):
    """A new officer enrols a second factor: the page with the codes, and the codes."""
    officer = OfficerFactory(authority=authority, email=email)
    client.post(reverse("authorities:login"), {"username": email, "password": PASSWORD})
    client.get(reverse("authorities:enrol"))
    device = TOTPDevice.objects.get(user=officer)
    response = client.post(reverse("authorities:enrol"), {"token": current_code(device)})
    page = response.content.decode()
    return officer, page, CODE.findall(page)


def test_the_codes_page_offers_a_download_and_a_print_button_without_inline_script(
    client, authority
):
    _, page, codes = enrolled(client, authority)
    assert len(codes) == 10
    assert reverse("authorities:backup_codes_download") in page
    assert 'id="print-codes"' in page
    assert re.search(r'<script src="[^"]*/js/print\.[^"]*js" defer>', page)  # hashed name
    assert "<script>" not in page and "onclick" not in page
    # The form carries the codes the page shows, and nothing else of them.
    assert sorted(re.findall(r'name="code" value="([^"]+)"', page)) == sorted(codes)


def test_download_is_a_text_attachment_with_the_codes(client, authority):
    officer, _, codes = enrolled(client, authority)
    response = client.post(reverse("authorities:backup_codes_download"), {"code": codes})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"].startswith("attachment;")
    assert "backup-codes" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    text = response.content.decode()
    for code in codes:
        assert code in text
    assert officer.email in text
    # Nothing was used up by the download.
    assert BackupCodeDevice.objects.get(user=officer).remaining == 10


@pytest.mark.parametrize(
    "tamper",
    [
        lambda codes: [],
        lambda codes: ["aaaaa-bbbbb"],
        lambda codes: [*codes[:9], "aaaaa-bbbbb"],
        lambda codes: codes + codes[:1] * 20,
        lambda codes: ["x" * 5000],
    ],
)
def test_download_refuses_codes_that_are_not_the_users_unused_ones(client, authority, tamper):
    _, _, codes = enrolled(client, authority)
    response = client.post(reverse("authorities:backup_codes_download"), {"code": tamper(codes)})
    assert response.status_code == 400
    assert not CODE.search(response.content.decode())
    assert not any(code in response.content.decode() for code in codes)


def test_download_refuses_another_users_codes_and_used_codes(client, authority, officer):
    _, _, codes = enrolled(client, authority)
    verified_login(client, officer)  # another officer's session
    assert (
        client.post(reverse("authorities:backup_codes_download"), {"code": codes}).status_code
        == 400
    )
    client.logout()
    owner, _, mine = enrolled(client, authority, email="again@interieur.gouv.fr")
    assert BackupCodeDevice.objects.get(user=owner).verify_token(mine[0])  # used at a login
    assert (
        client.post(reverse("authorities:backup_codes_download"), {"code": mine}).status_code == 400
    )


def test_download_is_post_only_and_needs_a_verified_session(client, authority):
    _, _, codes = enrolled(client, authority)
    url = reverse("authorities:backup_codes_download")
    assert client.get(url).status_code == 405
    client.logout()
    response = client.post(url, {"code": codes})
    assert response.status_code == 302
    assert codes[0] not in response.content.decode()


def test_the_codes_are_never_shown_again(client, authority):
    officer, _, codes = enrolled(client, authority)
    for url in (reverse("home"), reverse("authorities:account"), reverse("authorities:enrol")):
        response = client.get(url, follow=True)
        assert not any(code in response.content.decode() for code in codes)
