"""How an engine can fail, sorted by what the manager should do next.

- InputError / SourceError (engines.errors): the user's files are the problem. Another engine would
  fail the same way, so the job fails at once with the one-line message.
- TransientError / EngineTimeout: worth another try on the same engine, after a back-off.
- EngineFailure / EngineUnavailable: this engine cannot do this job; the next engine may.
"""

from __future__ import annotations

from engines.errors import InputError, SwapCastError, TransientError


class SourceError(InputError):
    """The source face(s) cannot be used (no face, not an image): the whole job fails, every target."""


class EngineUnavailable(SwapCastError):
    """The engine cannot be used on this machine (not installed, wrong version, server down)."""


class EngineFailure(SwapCastError):
    """The engine failed on this job for a reason of its own (crash, bad output, refused arguments)."""

    def __init__(self, problem: str, fix: str | None = None, *, crashed: bool = False) -> None:
        self.crashed = crashed  # the process died (counted by the health monitor)
        super().__init__(problem, fix)


class EngineTimeout(TransientError):
    """The engine hung or ran past its time limit; it was killed. Another try may work."""


class IntegrationConfigError(SwapCastError):
    """resources/integrations.json (or the user's copy) is not valid."""
