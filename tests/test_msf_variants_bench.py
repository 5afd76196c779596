"""The seeds-and-ablations benchmark: one run end to end (in-process, tiny) and the summary statistics."""

import pytest

from ucfdvs.benchmarks.msf_variants import VARIANTS, run_one, summarise


def test_variants_cover_both_msf_and_every_ablation():
    assert ("linear", "full") in VARIANTS and len(VARIANTS) == 9
    assert {a for arch, a in VARIANTS if arch == "msf-released"} == {"full", "local", "global", "no-tim"}


def test_one_run_selects_on_validation_and_records_firing_rates(tiny_data):
    run = run_one(str(tiny_data), "msf-released", "no-tim", seed=1, iterations=2, eval_every=1, lr=1e-4)
    assert run["iteration"] in (1, 2) and 0 <= run["test_auc"] <= 1 and 0 <= run["val_auc"] <= 1
    # the released variant's two shared neurons; TIM, left out, never runs
    assert set(run["firing_rates"]) == {"local.blocks.0.lif", "global_.gcn.similarity_branch.lif1"}
    assert all(0 <= rate <= 1 for rate in run["firing_rates"].values())


def test_summary_mean_and_sample_std():
    runs = [{"arch": "linear", "ablation": "full", "seed": s, "test_auc": auc, "test_far": 0.1, "val_auc": 0.5,
             "test_auc_last": auc, "iteration": 100} for s, auc in enumerate([0.6, 0.7, 0.8])]
    (row,) = summarise(runs)
    assert row["test_auc"] == pytest.approx(0.7) and row["test_auc_std"] == pytest.approx(0.1)
    assert row["seeds"] == 3 and row["test_far_std"] == pytest.approx(0.0, abs=1e-12)
