"""Checks of a config against the library: what the config module cannot judge alone."""

from __future__ import annotations

from geneqn.config import Config
from geneqn.errors import GeneqnError


def check(cfg: Config) -> Config:
    """Operators, the model space and the NN architecture of ``cfg``; GeneqnError naming the key."""
    from geneqn.nas.space import parse_architecture, space_from_config
    from geneqn.sr.expr import operator_codes

    try:
        operator_codes(cfg.sr.operators)
    except GeneqnError as e:
        raise GeneqnError(f"config: sr.operators: {e}") from None
    if not any(o in ("+", "-", "*") for o in cfg.sr.operators):
        raise GeneqnError("config: sr.operators needs at least one of +, - and *.")
    if cfg.sr.engine == "pysr":
        from geneqn.sr.engines import pysr_available

        if not pysr_available():
            raise GeneqnError("config: sr.engine = \"pysr\", but `import pysr` fails here (PySR needs Julia). "
                              "Install PySR and Julia, or use sr.engine = \"geneqn\" (the default).")
    try:
        space_from_config(cfg.search)
    except GeneqnError as e:
        raise GeneqnError(f"config: [search]: {e}") from None
    try:
        parse_architecture(cfg.nn.layers, cfg.nn.latent_layer, cfg.nn.dropout)
    except GeneqnError as e:
        raise GeneqnError(f"config: nn.layers: {e}") from None
    return cfg
