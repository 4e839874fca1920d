"""Settings for the test suite (pyproject.toml: DJANGO_SETTINGS_MODULE): the production module,
portal/settings.py, with two differences that exist only here.

1. The test environment as defaults. `make test` sets these variables (the Makefile's TEST_ENV,
   which wins: setdefault); with nothing set, a bare `.venv/bin/pytest tests/...` gets the same ones
   (and a demo seal, written here when missing), so the pure tests (the clock, the power check,
   identifiers, registry parsing) run with no environment at all, and the database tests still use
   the real PostgreSQL and Redis on 127.0.0.1, never an embedded stand-in. The secret key is a test
   value; portal/settings.py keeps refusing to start without DJANGO_SECRET_KEY
   (tests/portal/test_skeleton.py). They go into os.environ so that the processes the slow tests
   start (web server, worker, beat) see what this process sees; those inherit
   DJANGO_SETTINGS_MODULE=tests.settings too, so they check the passwords this process hashed. A
   test that needs the production module in a child process names it
   (DJANGO_SETTINGS_MODULE=portal.settings).
2. A fast password hasher: PBKDF2 costs about 0.5 s per user created or logged in, and nearly
   every test creates users. tests/portal/test_password_hashing.py proves the production module
   still hashes with PBKDF2.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent

TEST_ENVIRONMENT = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "DJANGO_SECRET_KEY": "test-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz",
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "EMAIL_URL": "smtp://127.0.0.1:2525",
    "PORTAL_VAR_DIR": str(_ROOT / "var" / "test"),
    "PORTAL_SEAL_PASSPHRASE": "test-only-seal",
    # The master key of the files at rest (requests_app/custody.py): a fixed one, for tests only.
    "PORTAL_MASTER_KEYS": "B0PzQFlzVYBlZfGY0_DsSixmlwNtUNlxQmTcPxaRTwE=",
}
for _name, _value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("PORTAL_SEAL_P12", str(Path(os.environ["PORTAL_VAR_DIR"]) / "seal.p12"))
# Every submission is sealed (requests_app/receipts.py): a self-signed DEMO seal for the suite,
# written once (to a temporary name, then renamed: xdist workers start together). The tests that
# check a receipt's seal against a CA make their own (tests/requests_app/test_receipts.py).
if not Path(os.environ["PORTAL_SEAL_P12"]).exists():
    from requests_app.seal import demo_seal_write

    _seal = Path(os.environ["PORTAL_SEAL_P12"])
    _partial = _seal.with_name(f"{_seal.name}.{os.getpid()}")
    demo_seal_write(_partial, passphrase=os.environ["PORTAL_SEAL_PASSPHRASE"])
    os.replace(_partial, _seal)
# Under xdist (make check runs two workers) each worker keeps its uploads in a directory of its
# own; each also has its own test database (pytest-django adds the worker's id to its name) and
# its own Celery queue (conftest.py). The collected static files stay shared: they are read only.
if _worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["PORTAL_PRIVATE_MEDIA_ROOT"] = str(
        Path(os.environ["PORTAL_VAR_DIR"]) / f"private-{_worker}"
    )

from portal.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
