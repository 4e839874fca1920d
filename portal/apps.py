from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal operations"

    def ready(self) -> None:
        from .middleware import SessionTimeoutMiddleware

        # The absolute session limit counts from the password login, whichever view logged in.
        user_logged_in.connect(SessionTimeoutMiddleware.start_clock, dispatch_uid="session-clock")
