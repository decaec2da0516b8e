"""One progress hook for all long work.

Library code never prints: it wraps long loops in :func:`track` (or opens a :func:`task`), and
whatever reporter is installed renders it. The default reporter does nothing; the CLI installs a
rich progress bar with an ETA. Tests may install their own to check that progress is reported.
"""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator, Protocol, TypeVar

T = TypeVar("T")


class Reporter(Protocol):
    def start(self, description: str, total: float | None) -> object: ...

    def advance(self, handle: object, amount: float = 1.0) -> None: ...

    def finish(self, handle: object) -> None: ...


class _Silent:
    def start(self, description: str, total: float | None) -> object:
        return None

    def advance(self, handle: object, amount: float = 1.0) -> None:
        pass

    def finish(self, handle: object) -> None:
        pass


_reporter: Reporter = _Silent()


def set_reporter(reporter: Reporter | None) -> Reporter:
    """Install ``reporter`` (None: silent); return the previous one."""
    global _reporter
    previous = _reporter
    _reporter = reporter if reporter is not None else _Silent()
    return previous


class Task:
    """A running unit of progress; ``advance`` by the amount of work just done."""

    def __init__(self, reporter: Reporter, handle: object):
        self._reporter = reporter
        self._handle = handle

    def advance(self, amount: float = 1.0) -> None:
        self._reporter.advance(self._handle, amount)


@contextlib.contextmanager
def task(description: str, total: float | None = None) -> Iterator[Task]:
    reporter = _reporter
    handle = reporter.start(description, total)
    try:
        yield Task(reporter, handle)
    finally:
        reporter.finish(handle)


def track(items: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
    """Iterate ``items`` while reporting one unit of progress per item."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with task(description, total) as t:
        for item in items:
            yield item
            t.advance()
