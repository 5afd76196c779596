"""Fine-tuning the streaming MSF with surrogate gradients, from the converted weights.

Same objective and sampler as ``train/`` (top-k MIL + smoothness, 30 + 30 videos of 16
snippets); the streaming model runs ``16 + latency`` steps per batch and is scored on the
shifted output. Only synapse weights (Affine, Linear, Scale) train; neuron parameters, delays
and the graph stay fixed, so the result exports to the same NIR graph. Model selection follows
the reference trainer (:func:`ucfdvs.train.trainer.training_and_validation`): a validation set is
carved from the training split (``config.val_fraction``, ``config.val_seed``), the model is scored
on it and on the test split every ``eval_every`` iterations, and the state with the best frame AUC
on ``config.select_on`` (``val`` by default; ``test`` is optimistic) is kept.
"""

from __future__ import annotations

import copy
import dataclasses
import logging

import numpy as np
import torch

from ucfdvs.export.streaming_msf import StreamingMSF
from ucfdvs.train.evaluate import EvalSet, TestSet
from ucfdvs.train.layout import FeatureLayout, Video
from ucfdvs.train.sampling import BatchSampler
from ucfdvs.train.trainer import TrainConfig, split_metrics, train_step, training_and_validation

log = logging.getLogger(__name__)


def finetune_config(**overrides: object) -> TrainConfig:
    """The training hyper-parameters with fine-tuning's defaults (300 iterations, evaluated every 50)."""
    return dataclasses.replace(TrainConfig(iterations=300, eval_every=50), **overrides)


def finetune(model: StreamingMSF, data: FeatureLayout, config: TrainConfig | None = None,
             test_set: EvalSet | None = None, val_set: EvalSet | None = None,
             progress: bool = False) -> tuple[StreamingMSF, list[dict]]:
    """Fine-tune a copy of ``model`` (``config``: default :func:`finetune_config`; its ``arch`` is
    unused) on the training split less its validation videos; returns (best model by frame AUC on
    ``config.select_on``, evaluation rows with ``val_*`` and ``test_*`` metrics of
    :func:`ucfdvs.train.trainer.split_metrics`). ``test_set`` / ``val_set`` replace the ones read from ``data``.

    Iteration 0 (the converted model) is evaluated too and kept if nothing beats it.
    """
    from tqdm import tqdm

    config = config or finetune_config()
    model = copy.deepcopy(model)
    train_videos, carved = training_and_validation(data, config, model.feature_dim)
    val_set = val_set or carved
    test_set = test_set or TestSet(data, model.feature_dim)
    selected = f"{config.select_on}_auc_all"
    torch.manual_seed(config.seed)
    sampler = BatchSampler(train_videos, config.per_class, config.snippets, config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def evaluation(iteration: int, loss: float) -> dict:
        return {"iteration": iteration, "loss": loss, **split_metrics(model, torch.device("cpu"), val_set, test_set)}

    rows = [evaluation(0, float("nan"))]
    best_auc, best_state = rows[0][selected], copy.deepcopy(model.state_dict())
    for iteration in tqdm(range(config.iterations), desc="finetune", disable=not progress):
        parts = train_step(model, optimizer, sampler.sample(), torch.device("cpu"))
        done = iteration + 1
        if done % config.eval_every == 0 or done == config.iterations:
            rows.append(evaluation(done, parts.total.detach().item()))
            log.info("finetune %d: %s %.4f", done, selected, rows[-1][selected])
            if rows[-1][selected] > best_auc:
                best_auc, best_state = rows[-1][selected], copy.deepcopy(model.state_dict())
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
