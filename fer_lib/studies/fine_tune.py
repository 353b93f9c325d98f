"""Fine-tuning as a method: a model pretrained on one dataset, fine-tuned on another, against the same
model trained on the second from scratch.

The pretrained model is the run of one of the paper's experiments (its checkpoint, as the
experiment selected it: best validation epoch, or last where validation was the test set). On the
target dataset every layer but the classifier starts from it (the classifier is new: the classes
differ), then two phases, each a checkpointed, budgeted `fit` of its own:
1. the backbone frozen: only what sits on it (attention, head) learns, at `frozen.learning_rate`;
2. the backbone's top blocks unfrozen (`models.top_layers`), at the lower `top.learning_rate`, its
   batch normalization kept in inference mode (as the Keras transfer-learning guide does: a small
   dataset's batch statistics would overwrite the pretrained ones).
The scratch arm trains the same model from random weights for both phases' epochs at
`frozen.learning_rate`, everything trainable. Both arms use the same split and seeds; the report
is the ablation's table (`ablation.ablation_table`): accuracy with CI per arm, and fine-tuned minus
scratch with a paired CI. Under a subject-independent protocol each seed re-draws the split, so the
spread across seeds mixes split and initialisation.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ..config import cache_dir, get_profile, reports_dir
from ..data import prepare
from ..data.splits import make_split
from ..errors import FerError
from ..evaluate.metrics import SEED_RULE
from ..evaluate.record import RunStrength
from ..files import writable_dir
from ..models import build_model
from ..train import fit, predict_proba
from ..train.checkpoint import MODEL_FILE, WEIGHTS_FILE, has_checkpoint, read_state
from ..evaluate.run_store import trained_rate, unit_run_dir
from ..evaluate.runner import data_fingerprint
from ..evaluate.spec import ExperimentSpec, folder_name
from ..evaluate.study_specs import FINE_TUNED, SCRATCH, FineTuneSpec
from .ablation import (ArmSeed, ablation_table, refuse_weaker_study, rerender_study, run_rows, study_folder,
                       write_study_folder)

# the record's fields a fine-tuning study's page lists
FINE_TUNING_META = ("profile", "protocol_description", "seeds", "frozen", "top", "budget_minutes_per_phase",
                    "environment", "runs")


def pretrained_model(spec: FineTuneSpec, profile: str, seed: int = 0,
                     reports_root: Path | str | None = None) -> keras.Model:
    """The source experiment's trained model of `seed` under `profile`, as that experiment evaluated it
    (`reports_root` holds its reports, which say at which rate it trained: `run_store.trained_rate`)."""
    from ..papers import get_experiments

    source = get_experiments(spec.paper, spec.source_experiment)[0]
    # the model the experiment trained: at its fallback rate where the paper's did not train
    run_dir = unit_run_dir(source, profile, trained_rate(source, profile, reports_root), seed)
    if not has_checkpoint(run_dir):
        raise FerError(f"{spec.paper} {spec.name} starts from experiment {source.name}'s trained model, which has no "
                       f"checkpoint at {run_dir} under profile {profile}; run that experiment first "
                       f"(make reproduce-{spec.paper} PROFILE={profile})")
    model = keras.models.load_model(run_dir / MODEL_FILE)
    state = read_state(run_dir)
    if source.training.restore_best and state.get("best_epoch") and (run_dir / WEIGHTS_FILE).exists():
        model.load_weights(run_dir / WEIGHTS_FILE)
    return model


def source_facts(source: ExperimentSpec, profile: str, lr: float, reports_root: Path) -> dict | None:
    """How far the pretrained model got, from its experiment's report at `lr` (None without one): its
    test accuracy (seed 0's run is the one fine-tuned), epochs run and planned, and why it stopped, so
    the fine-tuning is read beside how much the source had learned."""
    from ..evaluate.record import ExperimentRecord

    folder = Path(reports_root) / profile / source.paper / folder_name(source, lr)
    if not (folder / "experiment.json").exists():
        return None
    record = ExperimentRecord.read(folder)
    i = record.seeds.index(0) if 0 in record.seeds else 0
    per_seed = json.loads((folder / "metrics.json").read_text())["per_seed"][str(record.seeds[i])]
    return {"report": f"{profile}/{source.paper}/{folder.name}", "accuracy": per_seed["accuracy"],
            "epochs_run": record.epochs.run_per_seed[i], "epochs_planned": record.epochs.planned,
            "stop_reason": record.epochs.stop_reasons[i]}


def _transfer(source: keras.Model, target: keras.Model) -> None:
    """Copy every layer's weights from `source` to the layer of the same name in `target`, except the
    classifier."""
    for layer in target.layers:
        if layer.name != "predictions" and layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())


def _keep_batch_norm_frozen(layers_: list[keras.layers.Layer]) -> None:
    for layer in layers_:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def run_fine_tuning(spec: FineTuneSpec, profile: str = "smoke", *, data_root: Path | str | None = None,
                    reports_root: Path | str | None = None, replace_existing: bool = False):
    """Fine-tune and train from scratch on `spec.dataset` under `profile`, write the report folder
    (`<reports_root>/<profile>/<paper>/<name>/`), and return its table."""
    import pandas as pd

    prof = get_profile(profile)
    seeds = list(spec.seeds) if prof.multi_seed else list(spec.seeds[:1])
    reports_root = writable_dir(reports_root if reports_root is not None else reports_dir(), "reports root")
    folder = study_folder(spec, prof.name, reports_root)
    budget = prof.budget_seconds(spec.cpu_budget_minutes)
    source = pretrained_model(spec, prof.name, reports_root=reports_root)
    from ..papers import get_experiments

    source_spec = get_experiments(spec.paper, spec.source_experiment)[0]
    source_lr = trained_rate(source_spec, prof.name, reports_root)
    # both arms are built as the source experiment built its model (e.g. khalid2025's bn_momentum)
    options = source_spec.model_options
    prepared = prepare(spec.dataset, data_root, prof.per_class, spec.preprocess)
    dataset = prepared.dataset
    epochs = (prof.epochs(spec.frozen.epochs), prof.epochs(spec.top.epochs))
    strength = RunStrength(len(dataset), tuple(seeds), budget, sum(epochs))
    refuse_weaker_study(folder, strength, replace_existing)
    runs_root = cache_dir() / "runs" / prof.name / spec.paper / spec.name
    shape, k = dataset.images.shape[1:] + (1,), dataset.num_classes
    images, y = dataset.images, dataset.labels
    started = time.monotonic()
    runs: dict[str, list[ArmSeed]] = {FINE_TUNED: [], SCRATCH: []}
    for seed in seeds:
        split = make_split(spec.protocol, dataset, seed=seed, **spec.protocol_options)
        train, val = (images[split.train], y[split.train]), (images[split.val], y[split.val])
        fingerprint = f"{spec.paper}/{spec.source_experiment}@lr{source_lr:g}|" + data_fingerprint(spec.model, options, spec.preprocess,
                                                                                    split, dataset)

        def build_frozen() -> keras.Model:
            model = build_model(spec.model, shape, k, **options)
            _transfer(source, model)
            spec.freeze(model).trainable = False
            return model

        frozen_config = replace(spec.frozen, seed=seed, epochs=epochs[0], budget_seconds=budget)
        phase1 = fit(build_frozen, train, val, frozen_config, runs_root / "fine_tuned_frozen" / f"seed{seed}",
                     data_fingerprint=fingerprint + "|phase1")

        def build_top() -> keras.Model:
            model = phase1.model
            backbone = spec.freeze(model)
            backbone.trainable = True
            top = {id(layer) for layer in spec.top_layers(model)}
            for layer in backbone.layers:
                layer.trainable = id(layer) in top
            _keep_batch_norm_frozen(backbone.layers)
            return model

        top_config = replace(spec.top, seed=seed, epochs=epochs[1], budget_seconds=budget)
        phase2 = fit(build_top, train, val, top_config, runs_root / "fine_tuned_top" / f"seed{seed}",
                     data_fingerprint=fingerprint + f"|phase2 after {phase1.epochs_run} epochs")
        scratch_config = replace(spec.frozen, seed=seed, epochs=sum(epochs), budget_seconds=None if budget is None else 2 * budget)
        scratch = fit(lambda: build_model(spec.model, shape, k, **options), train, val, scratch_config,
                      runs_root / "scratch" / f"seed{seed}", data_fingerprint=fingerprint + "|scratch")
        for arm, results in ((FINE_TUNED, (phase1, phase2)), (SCRATCH, (scratch,))):
            last = results[-1]
            history = pd.concat([r.history.assign(phase=i + 1) for i, r in enumerate(results)], ignore_index=True)
            history["epoch"] = np.arange(1, len(history) + 1)
            runs[arm].append(ArmSeed(arm, seed, dataset.ids[split.test], y[split.test],
                                     predict_proba(last.model, images[split.test]), None, history,
                                     sum(r.epochs_run for r in results), sum(r.epochs_planned for r in results),
                                     "; ".join(sorted({r.stop_reason for r in results})),
                                     sum(r.train_seconds for r in results), budget,
                                     [segment for r in results for segment in (r.backends or [])]))
    params = {FINE_TUNED: source.count_params(), SCRATCH: build_model(spec.model, shape, k, **options).count_params()}
    table = ablation_table(spec.arms, runs, list(dataset.class_names), params)
    source_how = ("" if source_lr == source_spec.training.learning_rate else
                  f", at its fallback rate {source_lr:g}, since the paper's {source_spec.training.learning_rate:g} did not train")
    source_model = source_facts(source_spec, prof.name, source_lr, reports_root)
    source_score = ("" if source_model is None else
                    f"; that model scored {100 * source_model['accuracy']:.1f}% on its test split after "
                    f"{source_model['epochs_run']} of {source_model['epochs_planned']} epochs, {source_model['stop_reason']}")
    note = (f"Pretrained on FER2013 by experiment {spec.source_experiment}{source_how} (its checkpoint as it evaluated "
            f"it){source_score}; on "
            f"{spec.dataset}, {split.description}. Fine-tuned: backbone frozen for {epochs[0]} epochs at lr "
            f"{spec.frozen.learning_rate:g}, then its top blocks for {epochs[1]} at lr {spec.top.learning_rate:g} "
            f"(batch normalization kept in inference mode); from scratch: the same model for {sum(epochs)} epochs "
            f"at lr {spec.frozen.learning_rate:g}. The difference is fine-tuned minus scratch on the same test images, "
            f"seed by seed, with a paired bootstrap 95% CI; {SEED_RULE}. Each seed re-draws the subject split, so the "
            "spread across seeds mixes split and initialisation.")
    from ..provenance import environment
    saved = {
        "kind": "fine_tuning", "paper": spec.paper, "name": spec.name, "title": spec.title, "profile": prof.name,
        "profile_description": prof.description, "model": spec.model, "source_experiment": spec.source_experiment,
        "source_learning_rate": source_lr, "source_model": source_model,
        "arms": spec.arms, "dataset": spec.dataset, "protocol": spec.protocol, "protocol_options": spec.protocol_options,
        "protocol_description": split.description, "seeds": seeds, "seed_rule": SEED_RULE,
        "frozen": asdict(spec.frozen), "top": asdict(spec.top), "budget_minutes_per_phase": None if budget is None else budget / 60,
        "strength": asdict(strength), "n_test": int(len(split.test)), "wall_seconds": round(time.monotonic() - started, 1),
        "environment": environment(), "note": note, "runs": run_rows(runs), "parameters": params,
    }
    write_study_folder(folder, spec, runs, table, saved, dataset.class_names, FINE_TUNING_META)
    return table


def rerender_fine_tuning(folder: Path | str) -> pd.DataFrame:
    """Rewrite a fine-tuning study's table, figure and page from what its folder saved, without training."""
    return rerender_study(folder, "fine_tuning", FINE_TUNING_META)
