from django.apps import AppConfig


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Legal requests"

    def ready(self) -> None:
        from portal.metrics import collector_register

        from .metrics import PortalCollector

        # The requests' and outbox's figures on /metrics (read at each scrape, never at start).
        collector_register(PortalCollector())
