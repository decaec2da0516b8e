"""``python -m geneqn.cli``: the ``geneqn`` command."""

from geneqn.cli import app

app()
