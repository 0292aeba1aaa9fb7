"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 keeping what it receives."""

from __future__ import annotations

import email
import email.message
import email.policy
import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[email.message.EmailMessage]:
        """The received messages, parsed."""
        return [email.message_from_bytes(e.original_content, policy=email.policy.default) for e in self.envelopes]
