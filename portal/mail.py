from django.conf import settings
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.core.mail.backends.filebased import EmailBackend as FileBackend


class DevelopmentEmailBackend(FileBackend):
    """Development only: writes each message to var/mail/ (one file per connection) and echoes it
    to the console, so a person can read the links a message carries without an SMTP server."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("file_path", str(settings.EMAIL_DEV_FOLDER))
        super().__init__(*args, **kwargs)
        self._console = ConsoleBackend(*args, fail_silently=kwargs.get("fail_silently", False))

    def send_messages(self, email_messages):
        self._console.send_messages(email_messages)
        return super().send_messages(email_messages)
