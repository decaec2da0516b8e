"""The stages of a run, one module per group; importing this package registers them in order."""

from geneqn.run.engine import STAGES
from geneqn.run.stages import data, distill, expectosc, models, study  # noqa: F401  (registration)

ORDER = ["targets", "tss", "features", "dataset", "ridge", "expectosc", "nn", "search", "distill", "sr", "sweep",
         "stability", "nas_sr", "evaluate", "report"]

# the paper's order, whatever order the modules registered in
_registered = dict(STAGES)
STAGES.clear()
STAGES.update({name: _registered[name] for name in ORDER if name in _registered})
STAGES.update({name: st for name, st in _registered.items() if name not in STAGES})
