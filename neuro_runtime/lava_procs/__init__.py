"""Custom Lava processes and models (in their own folder because Lava imports every module next
to a Process when it searches for ProcessModels).  Importing this imports Lava."""

from ucfdvs.neuro_runtime.lava_procs.procs import SYNAPSE_MODELS, GradedLI, GradedSource, Readout, RecLIF

__all__ = ["SYNAPSE_MODELS", "GradedLI", "GradedSource", "Readout", "RecLIF"]
