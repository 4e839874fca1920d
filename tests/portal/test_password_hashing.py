"""The suite hashes passwords with MD5 (tests/settings.py), because PBKDF2 costs about half a
second for every user a test creates or logs in. Production must still hash with the strong one:
these tests read portal/settings.py as Django does when it starts (django.conf.Settings: Django's
defaults, then the module), without the test override."""

from django.conf import Settings, settings
from django.contrib.auth.hashers import get_hasher
from django.utils.module_loading import import_string

PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def test_production_settings_hash_new_passwords_with_pbkdf2():
    production = Settings("portal.settings")
    assert production.PASSWORD_HASHERS[0] == PBKDF2
    # OWASP's 2023 floor for PBKDF2-HMAC-SHA256 (Django 5.2 uses 1,000,000).
    assert import_string(production.PASSWORD_HASHERS[0]).iterations >= 600_000
    assert not any("MD5" in hasher for hasher in production.PASSWORD_HASHERS)


def test_only_the_test_settings_use_the_fast_hasher():
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert get_hasher().algorithm == "md5"
