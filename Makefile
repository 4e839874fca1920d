# The two commands a newcomer needs: `make run` (the portal, with demo data) and `make test`.
# Both create .venv and install the pinned set from requirements.lock when missing or stale.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

# make run: embedded defaults (SQLite and a filesystem broker in var/) unless DATABASE_URL /
# CELERY_BROKER_URL are set in the environment.
RUN_ENV := DJANGO_DEBUG=1

# make test: the real PostgreSQL and Redis on 127.0.0.1 unless overridden, production-like settings.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal
TEST_BROKER_URL ?= redis://127.0.0.1:6379/0
TEST_ENV := DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	DJANGO_SECRET_KEY=test-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz \
	DJANGO_ALLOWED_HOSTS=testserver,localhost,127.0.0.1 DJANGO_SECURE_SSL_REDIRECT=0 \
	EMAIL_URL=smtp://127.0.0.1:2525 PORTAL_VAR_DIR=$(CURDIR)/var/test

# The production environment the README documents, used to prove `check --deploy` is clean.
DEPLOY_ENV := DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	DJANGO_ALLOWED_HOSTS=portal.example.eu DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/0 EMAIL_URL=smtp+tls://portal:secret@smtp.example.eu:587 \
	PORTAL_BASE_URL=https://portal.example.eu PORTAL_VAR_DIR=$(CURDIR)/var/deploy-check \
	PORTAL_TRUSTED_PROXIES=127.0.0.1/32 PORTAL_SEAL_P12=$(CURDIR)/var/deploy-check/seal.p12 \
	PORTAL_SEAL_PASSPHRASE=deploy-check-only \
	PORTAL_MASTER_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')

.PHONY: venv run test check lint security deploy-check otp audit clean chromium bench fuzz

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

venv: $(STAMP)

run: venv
	@# The platform's seal for the receipts: a self-signed DEMO one, written on the first run.
	$(RUN_ENV) $(PY) manage.py make_demo_seal
	@# The master key of the files at rest (docs/security.md, "Custody"): a DEMO one, likewise.
	$(RUN_ENV) $(PY) manage.py make_demo_master_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py load_demo
	@echo
	@echo "  Portal:  http://localhost:$${PORT:-8000}/   (health: /healthz, e-mails: var/mail/)"
	@echo "  Log in as marie.durand@interieur.gouv.fr (officer), reviewer@platform.example,"
	@echo "  lead@platform.example, auditor@platform.example or admin@platform.example;"
	@echo "  siobhan.murphy@justice.ie is the enforcing authority's officer (IE, e-Evidence Art. 8);"
	@echo "  password: demo-portal-2026!"
	@echo "  Second-factor codes for the demo accounts: make otp"
	@echo "  Ctrl-C stops the web server, the worker and beat."
	@echo
	@# Ctrl-C ends honcho with 130: the normal way out, not an error of make's.
	@$(RUN_ENV) $(VENV)/bin/honcho start -f Procfile.dev || test $$? -eq 130

otp: venv
	@$(RUN_ENV) $(PY) manage.py demo_otp

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Static security scan: no medium or high finding may land (low ones are listed in docs/security.md).
security: venv
	$(VENV)/bin/bandit -q -r portal authorities requests_app -x '*/migrations/*' --severity-level medium

# Known vulnerabilities in the pinned dependencies. Needs the PyPI advisory database (internet):
# run it in a CI system with network access; this machine's CI has none, so make test skips it.
audit: venv
	$(PY) -m pip install --quiet pip-audit
	$(VENV)/bin/pip-audit --strict -r requirements.lock

deploy-check: venv
	@echo 'manage.py check --deploy --fail-level WARNING (production env from the README)'
	@# A seal is required in production (docs/receipts.md): a demo one stands in for it here.
	@$(DEPLOY_ENV) $(PY) manage.py make_demo_seal >/dev/null
	@$(DEPLOY_ENV) $(PY) manage.py check --deploy --fail-level WARNING

# The browser journeys drive Debian's Chromium (a test tool's own browser download does not work
# here): install it when missing, or stop with the command to run.
chromium:
	@test -x /usr/bin/chromium || { echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  { echo "make test: /usr/bin/chromium is missing; install it: sudo apt-get install -y chromium"; exit 1; }; }

test: venv chromium
	@$(TEST_ENV) $(PY) scripts/check_services.py
	$(TEST_ENV) $(PY) manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory lint security deploy-check
	@$(TEST_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

# make check: the quick loop while developing, not a replacement for make test: lint, then every
# test except the slow ones (browser journeys, fault injection, worker, beat and server
# processes) and the nightly fuzzing. Same PostgreSQL and Redis as make test, on CHECK_WORKERS
# pytest-xdist workers (each with its own test database, Celery queue and upload directory;
# tests handed out by work stealing; CHECK_WORKERS=0: one process), test databases kept between
# runs (--reuse-db; new migrations are still applied; PYTEST_ARGS=--create-db after editing
# one), CHECK_FUZZ_EXAMPLES examples per fuzz test. 1 min 48 s to 1 min 51 s on an otherwise idle
# 2-core machine (4,172 tests; 7 min 52 s in one process before); README.md, "The two commands".
CHECK_WORKERS ?= 2
CHECK_FUZZ_EXAMPLES ?= 3
check: venv
	@$(TEST_ENV) $(PY) scripts/check_services.py
	$(MAKE) --no-print-directory lint
	@$(TEST_ENV) $(PY) manage.py collectstatic --noinput -v0
	PORTAL_FUZZ_EXAMPLES=$(CHECK_FUZZ_EXAMPLES) $(TEST_ENV) $(VENV)/bin/pytest -m "not slow and not nightly" -n $(CHECK_WORKERS) --dist worksteal --reuse-db $(PYTEST_ARGS)

# make fuzz: the nightly form fuzzing, 1,000 examples per form, page and upload field,
# about 35 minutes on one core; same services as make test. A CI system with the time runs it
# nightly; make test runs the same tests with 3 to 25 examples each.
fuzz: venv
	@$(TEST_ENV) $(PY) scripts/check_services.py
	@$(TEST_ENV) $(PY) manage.py collectstatic --noinput -v0
	PORTAL_NIGHTLY=1 $(TEST_ENV) $(VENV)/bin/pytest tests/security/test_fuzz_forms.py -k nightly $(PYTEST_ARGS)

clean:
	rm -rf var/test var/deploy-check .pytest_cache

# make bench: the portal at 10,000 and 1,000,000 requests, a burst of 10,000 alerts (12 to 13
# minutes on a shared 2-core machine) and the API surge of 1,000 TCO orders with their alerts
# (19 to 31 minutes more; docs/performance.md). Its own databases (portal_bench_s,
# portal_bench_l), Redis and SMTP sink; needs PostgreSQL on 127.0.0.1:5432 and wrk (apt-get).
bench: venv
	@command -v wrk >/dev/null || apt-get install -y wrk
	$(PY) -m bench.run

# make messages: refresh the French catalogue (locale/fr/LC_MESSAGES/django.po) from the code and
# templates, then compile it. Needs GNU gettext (apt-get install gettext); commit the .po and the .mo,
# so that servers need no gettext.
.PHONY: messages
messages: venv
	$(RUN_ENV) $(PY) manage.py makemessages -l fr --ignore=.venv --ignore=var --ignore=bench --ignore=tests
	$(RUN_ENV) $(PY) manage.py compilemessages --ignore=.venv --ignore=var
