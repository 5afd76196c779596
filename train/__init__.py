"""UCF-Crime-DVS toolkit, training side: data layouts, synthetic data, the MSF model, training and evaluation.

Nothing in this package imports Lava: it must run on any Python >= 3.10 with any torch >= 2.3.
"""

__version__ = "0.1.0"
