"""A short Markdown summary of evaluations (`ucfdvs summary`), readable on its own."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError

MAIN_KEYS = ("auc_all", "auc_abnormal", "far_all", "far_normal")


def _load_metrics(folder: Path) -> dict:
    path = folder / "metrics.json"
    if not path.is_file():
        raise UserError("no metrics.json (not an `ucfdvs eval` output folder)", folder)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"not valid JSON ({err})", path) from None


def selection(values: dict) -> dict:
    """Where an evaluated checkpoint was selected: `select_on` and the run's validation figures at its
    iteration, read from the run folder beside the checkpoint (empty when there is none)."""
    checkpoint = Path(values.get("checkpoint", ""))
    metrics_csv, config_json = checkpoint.parent / "metrics.csv", checkpoint.parent / "config.json"
    if not values.get("checkpoint") or not metrics_csv.is_file() or not config_json.is_file():
        return {}
    with open(metrics_csv, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["iteration"]) == values.get("iteration")]
    if not rows or "val_auc_all" not in rows[0]:
        return {}
    try:
        select_on = json.loads(config_json.read_text()).get("select_on", "test")
    except json.JSONDecodeError:
        return {}
    return {"select_on": select_on, "val_auc_all": float(rows[0]["val_auc_all"]), "val_far_all": float(rows[0]["val_far_all"])}


def write_summary(runs: dict[str, Path], out: Path, title: str = "UCF-Crime-DVS anomaly detection") -> None:
    """Write a Markdown table of the main metrics of each run, per-class AUC, and links to the plots."""
    metrics = {name: _load_metrics(folder) for name, folder in runs.items()}
    lines = [f"# {title}", "", "Frame-level metrics on the test split (alarm: score >= 0.5).", ""]
    lines += ["| model | " + " | ".join(MAIN_KEYS) + " | videos | selected on | val auc_all | val far_all |",
              "|---" * (len(MAIN_KEYS) + 5) + "|"]
    for name, values in metrics.items():
        cells = " | ".join(f"{values[key]:.4f}" for key in MAIN_KEYS)
        chosen = selection(values)
        val = (f"{chosen['select_on']} (iteration {values['iteration']}) | {chosen['val_auc_all']:.4f} | {chosen['val_far_all']:.4f}"
               if chosen else "- | - | -")
        lines.append(f"| {name} | {cells} | {values.get('n_videos', '')} | {val} |")
    left_out = {name: values.get("gt_frames_left_out", 0) for name, values in metrics.items()}
    if any(left_out.values()):
        lines += ["", "Ground-truth frames past the last snippet (a dropped partial clip of under 16 frames), left "
                  "out of the metrics: " + ", ".join(f"{name} {count}" for name, count in left_out.items()) + "."]
        per_video = next(values.get("gt_frames_left_out_per_video", {}) for name, values in metrics.items() if left_out[name])
        lines += ["", "Per video: " + ", ".join(f"{stem} {count}" for stem, count in sorted(per_video.items())) + "."]
    classes = sorted({key[4:] for values in metrics.values() for key in values if key.startswith("auc_")} - {"all", "abnormal"})
    if classes:
        lines += ["", "Frame AUC per anomaly class (that class's videos with all normal videos):", ""]
        lines += ["| class | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for name in classes:
            cells = " | ".join(f"{values.get('auc_' + name, float('nan')):.4f}" for values in metrics.values())
            lines.append(f"| {name} | {cells} |")
    lines += [""]
    for name, folder in runs.items():
        relative = Path(os.path.relpath(folder, out.parent))
        lines.append(f"## {name}")
        lines.append("")
        lines.append(f"![ROC of {name}]({relative / 'roc.png'})")
        for plot in sorted((folder / "videos").glob("*.png"))[:4]:
            lines.append(f"![{plot.stem}]({relative / 'videos' / plot.name})")
        lines.append("")
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines))
