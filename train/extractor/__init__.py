"""The spiking feature extractor: backbone, event framing, pretraining, checkpoints and feature extraction."""

from ucfdvs.train.extractor.backbone import CLASSES, BackboneConfig, SpikingBackbone
from ucfdvs.train.extractor.checkpoint import load_extractor, save_extractor
from ucfdvs.train.extractor.extract import extract_features, snippet_features
from ucfdvs.train.extractor.pretrain import PretrainConfig, pretrain_extractor

__all__ = [
    "CLASSES", "BackboneConfig", "SpikingBackbone", "PretrainConfig", "extract_features", "load_extractor",
    "pretrain_extractor", "save_extractor", "snippet_features",
]
