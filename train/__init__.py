"""UCF-Crime-DVS training side: data layouts, synthetic data, the MSF model, training and evaluation.

Installed as ``ucfdvs.train``. Nothing in this package imports Lava: it must run on any Python >= 3.10
with any torch >= 2.3.
"""
