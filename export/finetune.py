"""Fine-tuning the streaming MSF with surrogate gradients, from the converted weights.

Same objective and sampler as ``train/`` (top-k MIL + smoothness, 30 + 30 videos of 16
snippets); the streaming model runs ``16 + latency`` steps per batch and is scored on the
shifted output. Only synapse weights (Affine, Linear, Scale) train; neuron parameters, delays
and the graph stay fixed, so the result exports to the same NIR graph. Model selection follows
the reference trainer (best frame AUC on the test split, evaluated every ``eval_every``).
"""

from __future__ import annotations

import copy
import dataclasses
import logging

import numpy as np
import torch

from ucfdvs.export.streaming_msf import StreamingMSF
from ucfdvs.train.evaluate import TestSet
from ucfdvs.train.layout import FeatureLayout, Video, load_split
from ucfdvs.train.sampling import BatchSampler
from ucfdvs.train.trainer import TrainConfig, train_step

log = logging.getLogger(__name__)


def finetune_config(**overrides: object) -> TrainConfig:
    """The training hyper-parameters with fine-tuning's defaults (300 iterations, evaluated every 50)."""
    return dataclasses.replace(TrainConfig(iterations=300, eval_every=50), **overrides)


def finetune(model: StreamingMSF, data: FeatureLayout, config: TrainConfig | None = None,
             test_set: TestSet | None = None, progress: bool = False) -> tuple[StreamingMSF, list[dict]]:
    """Fine-tune a copy of ``model`` (``config``: default :func:`finetune_config`; its ``arch`` is
    unused); returns (best model by test AUC, evaluation rows).

    Iteration 0 (the converted model) is evaluated too and kept if nothing beats it.
    """
    from tqdm import tqdm

    config = config or finetune_config()
    model = copy.deepcopy(model)
    train_videos = load_split(data, "train", model.feature_dim)
    test_set = test_set or TestSet(data, model.feature_dim)
    torch.manual_seed(config.seed)
    sampler = BatchSampler(train_videos, config.per_class, config.snippets, config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    metrics, _ = test_set.evaluate(model, torch.device("cpu"))
    rows = [{"iteration": 0, "loss": float("nan"), **{k: metrics[k] for k in ("auc_all", "far_all")}}]
    best_auc, best_state = metrics["auc_all"], copy.deepcopy(model.state_dict())
    for iteration in tqdm(range(config.iterations), desc="finetune", disable=not progress):
        parts = train_step(model, optimizer, sampler.sample(), torch.device("cpu"))
        done = iteration + 1
        if done % config.eval_every == 0 or done == config.iterations:
            metrics, _ = test_set.evaluate(model, torch.device("cpu"))
            rows.append({"iteration": done, "loss": parts.total.detach().item(), **{k: metrics[k] for k in ("auc_all", "far_all")}})
            log.info("finetune %d: auc %.4f", done, metrics["auc_all"])
            if metrics["auc_all"] > best_auc:
                best_auc, best_state = metrics["auc_all"], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return model, rows


def reference_agreement(reference: torch.nn.Module, streaming: StreamingMSF, videos: list[Video],
                        max_videos: int = 40, max_snippets: int = 128) -> float:
    """Mean squared difference between the reference's and the streaming model's scores on
    (a prefix of) ``videos``: a label-free criterion to choose the similarity substitute's beta."""
    from ucfdvs.train.evaluate import score_videos

    chosen = [Video(v.stem, v.features[:max_snippets], v.is_anomalous, v.class_name) for v in videos[:max_videos]]
    ref = score_videos(reference, chosen, torch.device("cpu"))
    got = score_videos(streaming, chosen, torch.device("cpu"))
    return float(np.mean(np.concatenate([(ref[k] - got[k]) ** 2 for k in ref])))
