"""One progress hook for all long work.

Library code never prints: it wraps long loops in :func:`track` (or opens a :func:`task`) and
advances by units of real work (epochs, trials, SR restarts, Sei windows); whatever reporter is
installed renders it. The default reporter does nothing. The CLI installs a rich progress bar;
in a notebook, ``geneqn.show_progress()`` installs a tqdm bar that renders as a widget (or as
text when widgets are missing). Tests may install their own reporter.
"""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator, Protocol, TypeVar

T = TypeVar("T")


class Reporter(Protocol):
    def start(self, description: str, total: float | None) -> object: ...

    def advance(self, handle: object, amount: float = 1.0) -> None: ...

    def note(self, handle: object, text: str) -> None: ...

    def finish(self, handle: object) -> None: ...


class _Silent:
    def start(self, description, total):
        return None

    def advance(self, handle, amount=1.0):
        pass

    def note(self, handle, text):
        pass

    def finish(self, handle):
        pass


_reporter: Reporter = _Silent()


def set_reporter(reporter: Reporter | None) -> Reporter:
    """Install ``reporter`` (None: silent); return the previous one."""
    global _reporter
    previous = _reporter
    _reporter = reporter if reporter is not None else _Silent()
    return previous


class Task:
    """A running unit of progress: ``advance`` by the amount of work just done; ``note`` a short
    status (e.g. "best valid r 0.586") shown beside the bar."""

    def __init__(self, reporter: Reporter, handle: object):
        self._reporter = reporter
        self._handle = handle

    def advance(self, amount: float = 1.0) -> None:
        self._reporter.advance(self._handle, amount)

    def note(self, text: str) -> None:
        note = getattr(self._reporter, "note", None)
        if note is not None:
            note(self._handle, text)


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


class TqdmReporter:
    """Progress as tqdm bars (``tqdm.auto``: a widget in Jupyter, text elsewhere)."""

    def __init__(self, leave: bool = False):
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.leave = leave

    def start(self, description, total):
        return self._tqdm(total=total, desc=description, leave=self.leave)

    def advance(self, handle, amount=1.0):
        handle.update(amount)

    def note(self, handle, text):
        handle.set_postfix_str(text, refresh=False)

    def finish(self, handle):
        handle.close()


def show_progress(enable: bool = True) -> None:
    """Show progress bars of long geneqn calls in a notebook or script (tqdm); False hides them."""
    set_reporter(TqdmReporter() if enable else None)
