import smtplib

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.core.mail.backends.filebased import EmailBackend as FileBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address


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


DJANGO_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class BatchSmtpBackend(SmtpBackend):
    """Django's SMTP backend for a session that sends many messages to the same people (the
    outbox's batches: the on-duty team is on most alerts). Each address is sanitised once per
    session instead of once per message: parsing a dozen addresses per alert was a fifth of
    a burst's delivery CPU. What is sent is unchanged: the same sanitize_address, memoised."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sanitized: dict[tuple[str, str], str] = {}

    def _sanitize(self, address, encoding: str) -> str:
        if not isinstance(address, str):  # a (name, address) tuple: not memoised
            return sanitize_address(address, encoding)
        key = (address, encoding)
        if key not in self._sanitized:
            self._sanitized[key] = sanitize_address(address, encoding)
        return self._sanitized[key]

    def _send(self, email_message):
        # Django's _send (5.2), with the memoised addresses.
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        from_email = self._sanitize(email_message.from_email, encoding)
        recipients = [self._sanitize(addr, encoding) for addr in email_message.recipients()]
        message = email_message.message()
        try:
            self.connection.sendmail(from_email, recipients, message.as_bytes(linesep="\r\n"))
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True


def batch_connection():
    """A mail connection for a batch of messages: BatchSmtpBackend where the portal sends over
    SMTP, the configured backend otherwise (the tests' locmem, development's files)."""
    if settings.EMAIL_BACKEND == DJANGO_SMTP_BACKEND:
        return get_connection("portal.mail.BatchSmtpBackend")
    return get_connection()
