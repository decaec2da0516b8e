"""Checks of a config against the library: what the config module cannot judge alone."""

from __future__ import annotations

from geneqn.config import Config
from geneqn.errors import GeneqnError


def check(cfg: Config) -> Config:
    """Operators, the model space and the NN architecture of ``cfg``; GeneqnError naming the key."""
    from geneqn.nas.space import parse_architecture, space_from_config
    from geneqn.sr.operators import operator_codes

    from geneqn.sr.operators import ARITY, complexity_weights

    try:
        codes = operator_codes(cfg.sr.operators)
        complexity_weights(cfg.sr.operators, cfg.sr.complexity_of_operators, cfg.sr.complexity_of_constants,
                           cfg.sr.complexity_of_variables)
    except GeneqnError as e:
        raise GeneqnError(f"config: sr: {e}") from None
    if not any(ARITY[c] == 2 for c in codes):
        raise GeneqnError("config: sr.operators needs at least one binary operator (+, -, *, / or ^).")
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
