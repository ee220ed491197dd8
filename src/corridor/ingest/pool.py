"""Parsing on other cores: worker processes read received messages while the caller stores them.

SQLite has one writer and the store step is serial, but parsing is pure CPU (pydifact's tokenizer
reads EDIFACT a character at a time), so a batch of messages goes faster when the parse of the
next message runs in another process while this one stores the previous. Results are the same
as `Ingestor.ingest` alone: the worker runs the very `parse` of the ingest path, with the same
time-zone look-up, and the caller hands the result to `Ingestor.ingest(..., parsed=...)`.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime

from .results import ParseResult

_store = None   # the worker's own read-only use of the store (alias and time-zone look-ups)


def _start(url: str) -> None:
    global _store
    from corridor.store import Store
    _store = Store(url)


def _parse(content: bytes, fmt: str, source_party: str, received_at: datetime,
           filename: str | None) -> ParseResult:
    from ..store.ingest import Registry
    from .service import Ingestor, parse
    with _store.read() as conn:
        return parse(content, fmt, source_party, received_at,
                     tz_for=Ingestor(_store)._tz_for(conn, Registry(conn)), filename=filename)


def default_workers() -> int:
    """One parser per spare core (the caller's core stores)."""
    return max(1, (os.cpu_count() or 2) - 1)


class ParsePool:
    """A process pool that parses messages ahead of the store step.

    `formats` limits it to the formats worth shipping to another process (a parse costlier than
    pickling its events back): EDIFACT above all. Use as a context manager or call `close()`.
    """

    def __init__(self, store, workers: int | None = None, formats: tuple[str, ...] | None = ("edifact",)):
        self.formats = formats
        # spawn, not fork: the caller may hold database connections and threads (MQTT, uvicorn)
        self._pool = ProcessPoolExecutor(workers or default_workers(), mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(store.url,))

    def takes(self, fmt: str) -> bool:
        return self.formats is None or fmt in self.formats

    def submit(self, content: bytes, fmt: str, source_party: str | None, received_at: datetime,
               filename: str | None = None) -> Future:
        """Start parsing one message; the future's result goes to `Ingestor.ingest(parsed=...)`."""
        return self._pool.submit(_parse, content, fmt, source_party or "", received_at, filename)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ParsePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
