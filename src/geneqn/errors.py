"""The one exception type that user-facing failures raise.

A :class:`GeneqnError` message names the input, the problem and the fix; the CLI prints it
without a traceback.
"""


class GeneqnError(Exception):
    """A failure caused by user input or environment, with a message meant for the user."""


def did_you_mean(names, choices) -> str:
    """" (did you mean 'Beta cell'?)" for names that differ from a choice in case or a few letters."""
    import difflib

    choices = [str(c) for c in choices]
    lower = {c.lower(): c for c in choices}
    hints = []
    for name in names:
        name = str(name)
        close = [lower[name.lower()]] if name.lower() in lower else difflib.get_close_matches(name, choices, n=1)
        if close:
            hints.append(f"{name!r} -> {close[0]!r}")
    return f" (did you mean {', '.join(hints)}?)" if hints else ""
