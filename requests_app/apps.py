from django.apps import AppConfig


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Legal requests"

    def ready(self) -> None:
        # Imported here, once the models are loaded (Django's rule for ready()). The wiring
        # lives here so that the outbox imports no alert and the portal no app:
        # - the outbox asks the alerts, when it sends one, whether it still applies;
        # - /healthz counts what is not getting out, by the one definition of each.
        from portal import health

        from . import alerts, notifications, receipts

        for kind in alerts.SEND_TIME_KINDS:
            notifications.send_time_hook_register(kind, alerts.alerts_at_send_time)
        health.failing_register("alerts", lambda: alerts.requests_with_failing_alerts().count())
        health.failing_register("emails", lambda: notifications.notifications_failing().count())
        health.failing_register("receipts", receipts.receipts_failing)

        # The requests' and outbox's figures on /metrics (read at each scrape, never at start).
        from portal.metrics import collector_register

        from .metrics import PortalCollector

        collector_register(PortalCollector())

        # The instrument table against the law: no internal deadline later than the legal one.
        from django.core import checks as django_checks

        from .checks import (
            check_enforcing_state,
            check_legal_time_limits,
            check_master_keys,
            check_seal,
            check_signature_settings,
        )

        django_checks.register(check_legal_time_limits)
        django_checks.register(check_enforcing_state)
        # The seal of the receipts: none, and the portal does not start (docs/receipts.md).
        django_checks.register(check_seal)
        django_checks.register(check_signature_settings)
        # The master keys of the files at rest: none, and the portal does not start.
        django_checks.register(check_master_keys)

        # The API's token scheme, for drf-spectacular's schema (docs/api.md).
        from .api import schema  # noqa: F401, I001

        # Webhooks: every new event row is queued, in its own transaction, for the clients
        # that would read it in the API's events feed. A receiver on the row rather than a
        # call in each service: the feed is "every event row", and so is this.
        from django.db.models.signals import post_save

        from .api.webhooks import webhooks_enqueue
        from .models import RequestEvent

        def _event_created(sender, instance, created, raw=False, **kwargs) -> None:
            if created and not raw:
                webhooks_enqueue(instance)

        post_save.connect(
            _event_created, sender=RequestEvent, weak=False, dispatch_uid="webhooks_enqueue"
        )
