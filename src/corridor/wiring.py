"""The composition root: connects capabilities that must react to each other.

The ingest path knows nothing of tracking or webhooks; tracking registers its step in
`corridor.ingest.service.AFTER_APPEND` when its hooks module is imported. Every entry point
(the CLI, the app factory, the twin, tests) calls `ensure_wired()` so that step is never missing.
"""

from __future__ import annotations

_done = False


def ensure_wired() -> None:
    """Register the in-transaction steps that follow every append (idempotent)."""
    global _done
    if not _done:
        import corridor.tracking.hooks  # noqa: F401  (registers trip status, ETA, alerts, outbox)
        _done = True
