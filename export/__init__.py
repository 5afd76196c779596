"""Export side of ucfdvs: streaming MSF (conversion, fine-tuning), NIR and ONNX export, NIR interpreter.

Nothing here imports Lava: export runs on any Python >= 3.10 with nir, nirtorch and torch.
"""
