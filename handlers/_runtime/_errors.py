"""Errors a handler raises to choose what happens to the message it was given.

    JimbotError (schemas)
    ├── HandlerError
    │   ├── RetryableError   → nak with a growing delay; dead letter after max deliveries
    │   └── PermanentError   → +TERM <reason> at once; dead letter after one delivery
    ├── ServiceError         → request-reply error: Nats-Service-Error / -Code headers
    │   ├── DeadlineExceeded → the caller's budget ran out (code 504)
    │   └── CircuitOpen      → a breaker refused the call (code 503; also a RetryableError
    │                          and a pybreaker.CircuitBreakerError): nak until it half-opens
    ├── ConfigError          → a setting is invalid; the message names the variable
    └── HandlerNotFound      → `jimbot run <name>` with an unknown name

Any other exception from a handler is treated as retryable: a bug may be a passing fault, and
max deliveries bounds the cost. Undecodable input is permanent.
"""

from __future__ import annotations

import pybreaker

from schemas import JimbotError


class HandlerError(JimbotError):
    """Raised by a consumer handler to pick the message's outcome."""


class RetryableError(HandlerError):
    """Raised when the work may succeed later (a dependency is down, a lease is busy)."""


class PermanentError(HandlerError):
    """Raised when the input can never be processed (undecodable, invalid): dead-letter now."""


class ServiceError(JimbotError):
    """Raised by a request-reply handler to answer with an ADR-32 error.

    Args:
        code: a short code, HTTP-like by convention (``"400"``, ``"404"``, ``"503"``).
        description: safe to show to the remote caller; never a ``repr`` of an exception.
    """

    def __init__(self, code: str | int, description: str) -> None:
        self.code = str(code)
        self.description = description
        super().__init__(f"{self.code}: {description}")


class DeadlineExceeded(ServiceError):
    """Raised when a request's deadline passed before an answer was ready."""

    def __init__(self, description: str = "deadline exceeded") -> None:
        super().__init__("504", description)


class CircuitOpen(RetryableError, ServiceError, pybreaker.CircuitBreakerError):
    """Raised when a circuit breaker refuses a call without making it.

    It is three things at once, so every caller already handles it: a ``ServiceError`` 503
    (an endpoint answers it as such), a ``RetryableError`` (a consumer naks, with a delay of at
    least :attr:`retry_after`), and pybreaker's ``CircuitBreakerError``.

    Args:
        breaker: the guarded dependency (``decision``, ``claude_advisor``...).
        retry_after: seconds until the breaker lets a half-open trial through.
    """

    def __init__(self, breaker: str, retry_after: float) -> None:
        self.breaker = breaker
        self.retry_after = max(retry_after, 0.0)
        ServiceError.__init__(
            self,
            "503",
            f"circuit open for {breaker}: it failed too often; calls fail fast for "
            f"{self.retry_after:.1f}s more (tune with JIMBOT_BREAKER_{breaker.upper()})",
        )


class ConfigError(JimbotError):
    """Raised when a setting is invalid; the message names the variable and the fix."""


class HandlerNotFound(JimbotError):
    """Raised when no handler has the requested name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(
            f"no handler named {name!r}; known handlers: {', '.join(known) or 'none'} "
            "(or pass module:attribute)"
        )
