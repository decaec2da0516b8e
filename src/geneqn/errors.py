"""The one exception type that user-facing failures raise.

A :class:`GeneqnError` message names the input, the problem and the fix; the CLI prints it
without a traceback.
"""


class GeneqnError(Exception):
    """A failure caused by user input or environment, with a message meant for the user."""
