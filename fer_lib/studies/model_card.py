"""The shipped reference model's card (`MODEL_CARD.md`): every number from the run's record, its metrics, the
model comparison, the data audit's label agreement, the log of test-set looks and the out-of-domain summary.

`model_card` writes the text; `refresh_model_card` rewrites the card of the model shipped from what is committed
(for when a report it quotes is re-run); `label_agreement` reads the data audit's FER+ agreement.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import FerError
from ..evaluate.record import ExperimentRecord
from ..evaluate.test_looks import LOG_FILE, read_log, recipes_tried_after_scores
from ..files import write_text
from ..reporting import tables
from .out_of_domain import STUDY as OUT_OF_DOMAIN, summary_for
from .reference_model import (PUBLIC_TEST_ACCURACY, SELECTION_FOLDER, built_dropout, measurement_description,
                              published_accuracy)


def model_card(record: ExperimentRecord, metrics: dict, comparison: pd.DataFrame | None, n_params: int,
               agreement: float, labels: dict | None = None, selection: pd.DataFrame | None = None,
               comparison_description: str | None = None, looks: list[dict] | None = None,
               out_of_domain: str | None = None) -> str:
    """The reference model's card, every number from the run's record, metrics and comparison, and
    `labels` (`label_agreement`, the data audit's FER+ agreement; None leaves it out), `selection`
    (`select_recipe`'s table; None: the model was shipped without a choice between recipes),
    `comparison_description` (what the comparison measured and on which machine, as `compare_models` saved it) and
    `out_of_domain` (the out-of-domain benchmark's summary.md of the same profile; None: not measured)."""
    pooled = metrics["pooled_over_seeds"]
    class_names = metrics["primary"]["class_names"]
    rarest = min(pooled["per_class"], key=lambda c: pooled["per_class"][c]["support"])
    dedup = metrics.get("deduplicated_test")
    per_class = pd.DataFrame([{"class": c, "precision": round(v["precision"], 3), "recall": round(v["recall"], 3),
                               "f1": round(v["f1"], 3), "support": v["support"]}
                              for c, v in pooled["per_class"].items()])
    ci = pooled["accuracy_ci"]
    segment = (record.backends or [[{}]])[0][0] if record.backends else {}
    lines = [
        "# Model card: the suite's reference emotion model (`reference_cnn`)",
        "",
        "Generated from the run's record by `fer_lib.studies.model_card.model_card`; do not edit by hand.",
        "",
        "## What it is",
        f"- A VGG-style CNN ({n_params:,} parameters): four stages of two 3x3 conv-BN-ReLU layers and max pooling "
        "(48-384 filters) on the centre 40x40 of a 48x48 grey face, global average pooling, a 256-unit layer, "
        f"softmax over {len(class_names)} classes: " + ", ".join(class_names) + ".",
        "- Input: a 48x48 uint8 grey face, 0-255 (the model scales it); the recognizer crops it from a detected box "
        "exactly as the training pipeline made its faces.",
        "- Trained with Khaireddin and Chen's (2021) recipe, narrowed for CPUs: see `fer_lib/papers/reference/`. "
        f"Recipe `{record.experiment}`: weight decay {record.train_config.get('weight_decay', '?')}, dropout "
        f"{built_dropout(record)}." + ("" if selection is None else
                                  " Chosen on PublicTest among the suite's FER2013 recipes (accuracy at each run's selected "
                                  "epoch: " + ", ".join(f"`{name}` {accuracy:.1%}" for name, accuracy
                                                        in zip(selection["recipe"], selection[PUBLIC_TEST_ACCURACY]))
                                  + f"; `reports/{record.profile}/{record.paper}/{SELECTION_FOLDER}/`)."),
        f"- Shipped in float32 (trained under {record.fast_paths.get('precision', 'float32') if record.fast_paths else 'float32'}): "
        f"the shipped copy gives the run's top class on {agreement:.2%} of the PrivateTest faces.",
        "",
        "## Data and protocol",
        f"- FER2013 (ICML 2013 challenge), {record.split_sizes.get('train')} Training images; the epoch chosen on "
        f"PublicTest ({record.split_sizes.get('val')}); tested once on PrivateTest ({record.split_sizes.get('test')}).",
        f"- Trained {max(record.epochs.run_per_seed)} of {record.epochs.planned} planned epochs "
        f"({record.epochs.stop_reasons[0]})"
        + ("" if not record.started_from else
           f" from the weights of `{record.started_from[0]['experiment']}`'s selected epoch "
           f"{record.started_from[0]['best_epoch']}, after {record.started_from[0]['epochs']} epochs of the runs before it "
           f"({record.total_epochs} in all)")
        + f"; best epoch {record.epochs.best_epoch_per_seed[0]}, "
        f"{record.train_seconds_total / 60:.0f} minutes{' for these epochs' if record.started_from else ''} on "
        f"{segment.get('device', '?')} "
        f"({segment.get('backend', '?')}, commit {segment.get('git_commit', '?')}); profile `{record.profile}`.",
        "",
        "## Accuracy",
        f"- PrivateTest: **{pooled['accuracy']:.1%}** (95% CI {ci[0]:.1%}-{ci[1]:.1%}), n = {pooled['n']}.",
    ]
    if dedup:
        lines.append(f"- PrivateTest without the images that duplicate a Training image: {dedup['accuracy']:.1%} "
                     f"(95% CI {dedup['accuracy_ci'][0]:.1%}-{dedup['accuracy_ci'][1]:.1%}), n = {dedup['n']}.")
    published = published_accuracy(record)
    if published is not None:
        side = "inside" if ci[0] <= published.value <= ci[1] else ("above" if published.value > ci[1] else "below")
        lines.append(f"- The recipe's source reports {published.value:.1%} ({published.where}), {side} this run's "
                     f"95% CI: {100 * (pooled['accuracy'] - published.value):+.1f} points. This network is narrower and trained "
                     f"{record.total_epochs} epochs; how theirs differs is in "
                     f"`fer_lib/papers/{record.paper}/claims.json`.")
    lines += ["", "Per class (PrivateTest):", "", tables.markdown_table(per_class), ""]
    lines += test_look_lines(looks or [], record.profile)
    if comparison is not None:
        shown = comparison.drop(columns=[c for c in comparison.columns if c.startswith("recall_") or c == "predictions"])
        lines += ["## Beside other models, on the same PrivateTest images", ""]
        if comparison_description:
            lines += [measurement_description(comparison_description) + ".", ""]  # minus_first is explained below
        if "minus_first_points" in shown.columns:
            lines += [f"`minus_first`: each model's accuracy minus the first row's ({shown['model'].iloc[0]}), in points, "
                      "with a paired bootstrap 95% CI over the same images; a CI that holds 0 does not show either one better.", ""]
        lines += [tables.markdown_table(shown), ""]
    lines += ["## Out of domain", "",
              "`fer-lib predict` runs this model by default; it stays the default until a candidate fixed beforehand "
              "(`fer_lib/studies/out_of_domain.py`, `CANDIDATES` and `SELECTION_RULE`) beats it on held-out data.", ""]
    lines += [out_of_domain.strip(), ""] if out_of_domain else \
        ["Not measured under this profile yet: `python -m fer_lib.studies.out_of_domain --profile "
         f"{record.profile}`.", ""]
    lines += [
        "## Known limits",
        "- FER2013's labels are noisy: one annotator per image"
        + (f"; the FER+ re-annotation's majority of ten annotators equals the FER2013 label on {labels['majority']:.1%} "
           f"of the {labels['images']:,} images that have one ({labels['plurality']:.1%} by the data README's plurality "
           f"rule; the suite's `{labels['profile']}` data audit)" if labels else "")
        + ". Accuracy above about 75% on its test labels is not credible for any model.",
        "- FER2013's faces were found by web image search: mostly frontal, adult, and not balanced by age, sex or "
        "skin tone; of other populations only CK+48's posed laboratory faces are measured (Out of domain, above).",
        f"- 48x48 grey faces, {len(class_names)} classes, frontal faces as OpenCV's cascade finds them. "
        f"The rarest class, {rarest}, has {pooled['per_class'][rarest]['support']} test images and a recall of "
        f"{pooled['per_class'][rarest]['recall']:.1%}.",
        "- An expression is not an emotion: the model labels facial configurations, not what a person feels.",
        "",
        "## Licence of the data",
        "FER2013 was released by Goodfellow et al. for the ICML 2013 Challenges in Representation Learning on "
        "Kaggle, for research; it carries no open licence, and its images' copyrights stay with their owners. "
        "The model's weights derive from it: use them for research, and check the terms before any other use.",
    ]
    return "\n".join(lines) + "\n"


def test_look_lines(looks: list[dict], profile: str) -> list[str]:
    """The card's disclosure of every look at the test set among the FER2013 recipes (`evaluate.test_looks`):
    how many recipes were first scored after another recipe's PrivateTest score was visible, and the log."""
    from ..papers.reference.experiments import FER2013_RECIPES

    order = recipes_tried_after_scores(looks, "reference", profile, FER2013_RECIPES)
    if not order:
        return []
    after = [r["recipe"] for r in order if r["test scores visible before"]]
    mine = [r for r in looks if r["paper"] == "reference" and r["profile"] == profile
            and r["experiment"].split(" (")[0] in FER2013_RECIPES]
    table = pd.DataFrame([{k: r[k] for k in ("scored_at", "experiment", "accuracy", "epochs", "recipe_fixed_at",
                                             "saved_in_commit", "source")} for r in mine])
    return ["## Every look at the test set", "",
            f"{len(after)} of the {len(order)} FER2013 recipes were tried after test scores were visible "
            f"({', '.join(f'`{name}`' for name in after) or 'none'}): each was added after an earlier recipe's PrivateTest "
            "score had been committed, so its being tried may owe to that score, although the rule that ships a "
            "model reads PublicTest only. Every PrivateTest score of these recipes, superseded ones included "
            f"(`reports/{LOG_FILE}`; a recovered row's time is the commit that saved the score):", "",
            tables.markdown_table(table), ""]


def label_agreement(reports_root: Path | str | None = None) -> dict | None:
    """The data audit's FER2013-against-FER+ agreement over all splits (the `all` row of
    `data_audit/ferplus/agreement_by_split.csv`, from the `paper` or else the `cpu` profile), or None
    where the audit has not run."""
    from ..config import reports_dir

    root = Path(reports_root) if reports_root is not None else reports_dir()
    for profile in ("paper", "cpu"):
        path = root / profile / "data_audit" / "ferplus" / "agreement_by_split.csv"
        if path.exists():
            row = pd.read_csv(path).set_index("split").loc["all"]
            return {"profile": profile, "majority": float(row["agreement"]), "images": int(row["majority emotion"]),
                    "plurality": float(row["plurality agreement (README rule)"])}
    return None


def refresh_model_card(models_dir: Path | str | None = None, reports_root: Path | str | None = None) -> Path:
    """Rewrite the shipped model's `MODEL_CARD.md` from what is committed (the run its sidecar names, that
    profile's model comparison, the data audit), leaving the weights alone: for when a report the card
    quotes is re-run. Returns the card's path."""
    import json

    import keras

    from ..config import reports_dir
    from ..recognizer.classifiers import MODELS_DIR, REFERENCE_MODEL, ModelInfo

    models_dir = Path(models_dir) if models_dir is not None else MODELS_DIR
    path = models_dir / REFERENCE_MODEL.name
    source = ModelInfo.read(path).source
    if not source:
        raise FerError(f"{path} has no sidecar naming its run; ship a model with "
                       "notebooks/reference_model.ipynb (profile cpu or paper) first")
    root = Path(reports_root) if reports_root is not None else reports_dir()
    folder = root / source["profile"] / source["paper"] / source["experiment"]
    record, metrics = ExperimentRecord.read(folder), json.loads((folder / "metrics.json").read_text())
    comparison_csv = root / source["profile"] / source["paper"] / "model_comparison" / "comparison.csv"
    comparison = pd.read_csv(comparison_csv) if comparison_csv.exists() else None
    comparison_json = comparison_csv.with_suffix(".json")
    description = json.loads(comparison_json.read_text()).get("description") if comparison_json.exists() else None
    n_params = keras.models.load_model(path, compile=False).count_params()
    card = models_dir / "MODEL_CARD.md"
    selection_csv = root / source["profile"] / source["paper"] / SELECTION_FOLDER / "selection.csv"
    selection = pd.read_csv(selection_csv) if selection_csv.exists() else None
    if selection is not None and source["experiment"] not in set(selection.loc[selection["chosen"], "recipe"]):
        selection = None  # a later choice the shipped model did not come from
    write_text(card, model_card(record, metrics, comparison, n_params, source["same_top_class_as_run"],
                                label_agreement(root), selection, description, read_log(root),
                                summary_for(root / source["profile"] / OUT_OF_DOMAIN, path)))
    return card


def shipped_model_profile(models_dir: Path | str | None = None) -> str | None:
    """The profile of the run the shipped reference model came from (its sidecar), or None."""
    from ..recognizer.classifiers import MODELS_DIR, REFERENCE_MODEL, ModelInfo

    path = (Path(models_dir) if models_dir is not None else MODELS_DIR) / REFERENCE_MODEL.name
    return (ModelInfo.read(path).source or {}).get("profile") if path.exists() else None
