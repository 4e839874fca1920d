"""An SMTP server for fault tests: it records the Message-ID of every message it takes, can refuse
the first messages with a temporary error, and can be told to hang before it answers."""

import asyncio
import threading
import time
from email.parser import BytesHeaderParser

from aiosmtpd.controller import Controller

from tests.processes import free_port


class SmtpSink:
    """Runs in a thread of the test process (aiosmtpd's Controller) on a free loopback port.

    A message counts as received once its data is in, before the reply: a client killed while
    the sink hangs has delivered the message without learning it, the crash window the outbox
    flags with `recovered_after_crash`.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[str] = []  # Message-IDs, in order of arrival
        self.refused = 0
        self.refuse_first = 0  # answer 451 to this many messages, then accept
        self.delay = 0.0  # seconds to hang before answering each message
        self.in_flight = 0  # messages received and not yet answered
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    async def handle_DATA(self, server, session, envelope) -> str:
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        with self._lock:
            if self.refused < self.refuse_first:
                self.refused += 1
                return "451 4.3.0 Temporary failure, try again later"
            self.received.append(str(headers.get("Message-ID", "")).strip())
            self.in_flight += 1
            delay = self.delay
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:
            with self._lock:
                self.in_flight -= 1
        return "250 2.0.0 Queued"

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.received)

    def wait_in_flight(self, timeout: float) -> bool:
        """True once some message is received and unanswered (the sink is hanging on it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.in_flight:
                return True
            time.sleep(0.01)
        return False
