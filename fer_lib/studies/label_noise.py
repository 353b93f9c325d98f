"""How noisy FER2013's labels are, measured with FER+'s ten annotators per image, and what that means
for a claim of 96% on FER2013's test labels.

FER2013 has one label per image; FER+ (Barsoum et al. 2016) had ten annotators vote on every image
again. The majority here is FER+'s own rule (`data.ferplus`: a single vote dropped as an outlier, then
more than half of the remaining votes); "annotators split" means no emotion has that majority. The
data's README quotes a simpler agreement figure, the FER2013 label against the category with the
most votes over all ten columns; both are reported, each named.

The argument a reader can check: scored against FER2013's labels on the same images, a classifier
that predicted exactly the ten annotators' majority would reach only `consensus_as_prediction`. That
is not an upper bound on accuracy (a model can learn FER2013's own labelling habits, and credible
models reach 73-76%), but a model at accuracy A on these images must side with the single FER2013
label against the majority on at least (A - a) / (1 - a) of the images where the two disagree, a the
agreement rate (`claim_implications`): for a claim of 96% that is nearly all of them.

`prediction_alignment` shows where our own models' predictions fall on those images, and
`ferplus_test_scores` scores a seven-class model on FER+'s test labels (PrivateTest, majority),
contempt counted as an error since such a model cannot predict it, with the score without the
contempt images beside it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import FER2013_SPLITS, FaceDataset
from ..data.ferplus import (FERPLUS_CLASSES, NO_MAJORITY, NO_ROW, NOT_A_FACE, UNKNOWN, VOTE_COLUMNS,
                            FERPLUS_TO_CANONICAL, FerPlusLabels)
from ..errors import FerError
from ..evaluate.metrics import proportion_ci
from ..evaluate.record import ExperimentRecord

HUMAN_ACCURACY = 0.65  # Goodfellow et al. 2013: human accuracy on FER2013 about 65% (+-5%)
NO_EMOTION = "unknown or not a face"
# the data README's agreement rule: the category with the most of all ten vote columns (first on ties)
_PLURALITY_NAMES = np.array([FERPLUS_TO_CANONICAL.get(c, c) for c in VOTE_COLUMNS])


def _fer2013_names(fer2013: FaceDataset) -> np.ndarray:
    return np.asarray(fer2013.class_names)[fer2013.labels]


def _majority_names(labels: FerPlusLabels) -> np.ndarray:
    return np.where(labels.kept, np.asarray(FERPLUS_CLASSES)[np.maximum(labels.majority, 0)], "")


def _share(n: int, of: int) -> dict:
    low, high = proportion_ci(n, of)
    return {"share": n / of if of else float("nan"), "ci_low": low, "ci_high": high}


def agreement_by_split(fer2013: FaceDataset, labels: FerPlusLabels) -> pd.DataFrame:
    """Per official split and over all: how many images have a FER+ majority emotion, how often the
    annotators split, and how often the FER2013 label equals the majority (95% Wilson CI); the data
    README's plurality agreement beside it."""
    labels.check_made_for(fer2013)
    agree = _fer2013_names(fer2013) == _majority_names(labels)
    has_row = labels.fer_row >= 0
    plurality = np.full(len(labels.ids), "", dtype=object)
    plurality[has_row] = _PLURALITY_NAMES[np.nanargmax(labels.votes[has_row], axis=1)]
    plurality_agree = _fer2013_names(fer2013) == plurality
    rows = []
    for split in (*FER2013_SPLITS, "all"):
        part = np.ones(len(agree), bool) if split == "all" else labels.split == split
        if not part.any():
            continue
        kept = part & labels.kept
        share = _share(int(agree[kept].sum()), int(kept.sum()))
        rows.append({
            "split": split, "images": int(part.sum()), "with FER+ row": int((part & has_row).sum()),
            "annotators split": int((part & (labels.status == NO_MAJORITY)).sum()),
            "annotators split share": float((part & (labels.status == NO_MAJORITY)).sum() / max((part & has_row).sum(), 1)),
            NO_EMOTION: int((part & np.isin(labels.status, [UNKNOWN, NOT_A_FACE])).sum()),
            "majority emotion": int(kept.sum()), "label = majority": int(agree[kept].sum()),
            "agreement": share["share"], "agreement ci_low": share["ci_low"], "agreement ci_high": share["ci_high"],
            "plurality agreement (README rule)": float(plurality_agree[part & has_row].mean())
            if (part & has_row).any() else float("nan"),
        })
    return pd.DataFrame(rows)


def agreement_by_class(fer2013: FaceDataset, labels: FerPlusLabels, split: str | None = None) -> pd.DataFrame:
    """Per FER2013 class (within `split`, or all): images with a majority emotion, how often the label
    equals it (95% CI), and the majority most often given instead when it does not."""
    labels.check_made_for(fer2013)
    names, majority = _fer2013_names(fer2013), _majority_names(labels)
    part = labels.kept & (True if split is None else labels.split == split)
    rows = []
    for cls in fer2013.class_names:
        mine = part & (names == cls)
        agree = int((majority[mine] == cls).sum())
        instead = pd.Series(majority[mine & (majority != cls)]).value_counts()
        rows.append({"FER2013 label": cls, "majority emotion": int(mine.sum()), "label = majority": agree,
                     **{f"agreement{'' if k == 'share' else ' ' + k}": v for k, v in _share(agree, int(mine.sum())).items()},
                     "most common majority instead": f"{instead.index[0]} ({instead.iloc[0]})" if len(instead) else ""})
    return pd.DataFrame(rows)


def label_confusion(fer2013: FaceDataset, labels: FerPlusLabels, split: str | None = None) -> pd.DataFrame:
    """Counts of FER2013 labels (rows) against the FER+ outcome (columns): the majority emotion, or
    why there is none (annotators split, unknown or not a face, no FER+ row)."""
    labels.check_made_for(fer2013)
    outcome = np.where(labels.kept, _majority_names(labels),
                       np.where(labels.status == NO_MAJORITY, "annotators split",
                                np.where(labels.status == NO_ROW, NO_ROW, NO_EMOTION)))
    part = np.ones(len(outcome), bool) if split is None else labels.split == split
    table = pd.crosstab(pd.Series(_fer2013_names(fer2013)[part], name="FER2013 label"),
                        pd.Series(outcome[part], name="FER+"))
    return table.reindex(index=list(fer2013.class_names),
                         columns=[*FERPLUS_CLASSES, "annotators split", NO_EMOTION, NO_ROW], fill_value=0)


def consensus_as_prediction(fer2013: FaceDataset, labels: FerPlusLabels, split: str = "PrivateTest") -> dict:
    """The accuracy, on FER2013's labels of `split`, of a classifier that predicts exactly the FER+
    majority: over the images that have a majority emotion (their count says how many)."""
    labels.check_made_for(fer2013)
    kept = labels.kept & (labels.split == split)
    correct = int((_fer2013_names(fer2013) == _majority_names(labels))[kept].sum())
    low, high = proportion_ci(correct, int(kept.sum()))
    return {"split": split, "images": int((labels.split == split).sum()), "scored": int(kept.sum()),
            "correct": correct, "accuracy": correct / kept.sum() if kept.any() else float("nan"),
            "ci_low": low, "ci_high": high}


def fer2013_headline_claims() -> list[dict]:
    """Each paper's headline FER2013 accuracy claim (its claims file's `headline`, else its highest
    FER2013 accuracy claim that is not captioned a training result), the rule fixed before any score."""
    from ..evaluate.claims import load_claims, load_paper
    from ..papers import paper_names

    found = []
    for paper in paper_names():
        try:
            raw, claims = load_paper(paper), load_claims(paper)
        except FerError:
            continue
        fer = [c for c in claims if c.dataset == "fer2013" and c.metric == "accuracy" and c.value is not None
               and c.split != "train"]
        headline = raw.get("headline", {}).get("fer2013")
        chosen = next((c for c in fer if c.id == headline), None) or max(fer, key=lambda c: c.value, default=None)
        if chosen is not None:
            found.append({"paper": paper, "claim": chosen.id, "where": chosen.where, "claimed": chosen.value,
                          "protocol": chosen.protocol})
    return found


def claim_implications(consensus: dict, claims: list[dict]) -> pd.DataFrame:
    """For each claimed accuracy A, beside the consensus-as-prediction accuracy a and human accuracy:
    the least share of the images where FER2013's label and the FER+ majority disagree on which a model
    must side with FER2013's label, if it scored A on these images: (A - a) / (1 - a), floored at 0."""
    a = consensus["accuracy"]
    rows = [{"who": "human (Goodfellow et al. 2013)", "claimed": HUMAN_ACCURACY, "protocol": "FER2013 test"},
            {"who": "ten annotators' majority, as predictions", "claimed": a, "protocol": f"{consensus['split']}, "
             f"{consensus['scored']} images with a majority emotion"}]
    rows += [{"who": f"{c['paper']} ({c['where']})", "claimed": c["claimed"], "protocol": c["protocol"]} for c in claims]
    table = pd.DataFrame(rows)
    table["must side with the FER2013 label where the majority disagrees"] = ((table.claimed - a) / (1 - a)).clip(lower=0)
    return table


def _scored(predictions: Path | str, fer2013: FaceDataset, labels: FerPlusLabels, split: str
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """A saved predictions file read once and joined to the labels by id (every id must be an image of
    `split`): per predicted image its predicted class, FER2013 label, FER+ majority ("" where excluded)
    and whether FER+ keeps it, and the model's class names."""
    labels.check_made_for(fer2013)
    with np.load(predictions) as saved:
        names = [str(c) for c in saved["class_names"]]
        ids, predicted = saved["ids"].astype(str), np.asarray(names)[saved["proba"].argmax(axis=1)]
    part = np.flatnonzero(labels.split == split)
    where = dict(zip(labels.ids[part].astype(str), part))
    missing = [i for i in ids if i not in where]
    if missing:
        raise FerError(f"{len(missing)} predicted images are not {split} images of this dataset (first: {missing[0]})")
    at = np.array([where[i] for i in ids])
    return predicted, _fer2013_names(fer2013)[at], _majority_names(labels)[at], labels.kept[at], names


def prediction_alignment(predictions: Path | str, fer2013: FaceDataset, labels: FerPlusLabels,
                         split: str = "PrivateTest") -> dict:
    """Where a model's saved predictions on `split` fall: on images whose FER2013 label equals the FER+
    majority, its accuracy; on those where they differ, how often it predicts the FER2013 label, the
    FER+ majority, or neither."""
    predicted, fer, majority, kept, _ = _scored(predictions, fer2013, labels, split)
    same, differ = kept & (fer == majority), kept & (fer != majority)
    n = int(differ.sum())
    return {"agreeing images": int(same.sum()), "accuracy where they agree": float((predicted == fer)[same].mean()),
            "disagreeing images": n,
            "predicts FER2013 label": float((predicted == fer)[differ].mean()) if n else float("nan"),
            "predicts FER+ majority": float((predicted == majority)[differ].mean()) if n else float("nan"),
            "predicts neither": float(((predicted != fer) & (predicted != majority))[differ].mean()) if n else float("nan")}


def ferplus_test_scores(predictions: Path | str, fer2013: FaceDataset, labels: FerPlusLabels,
                        split: str = "PrivateTest") -> dict:
    """A model's saved predictions on `split` scored against FER+'s majority labels (the FER+ test set
    when `split` is PrivateTest): accuracy with 95% CI over all images with a majority emotion (a
    contempt majority counts as an error for a model without contempt), over the images whose majority
    is not contempt, and the FER2013-label accuracy on the same images."""
    predicted, fer, majority, kept, class_names = _scored(predictions, fer2013, labels, split)
    predicted, fer, majority = predicted[kept], fer[kept], majority[kept]
    not_contempt = majority != "contempt"
    out = {"images": int(kept.sum()), "contempt images": int((~not_contempt).sum()),
           "model has contempt": "contempt" in class_names}
    for name, mask, truth in (("FER+", np.ones_like(not_contempt), majority),
                              ("FER+ without contempt", not_contempt, majority), ("FER2013 labels", np.ones_like(not_contempt), fer)):
        correct = int((predicted == truth)[mask].sum())
        low, high = proportion_ci(correct, int(mask.sum()))
        out[name] = {"n": int(mask.sum()), "accuracy": correct / mask.sum() if mask.any() else float("nan"),
                     "ci_low": low, "ci_high": high}
    return out


MODEL_COLUMNS = ["model", "run", "images", "accuracy on FER2013 labels", "accuracy on FER+ labels", "FER+ ci_low",
                 "FER+ ci_high", "FER+ without contempt", "contempt images (counted wrong)", "disagreeing images",
                 "there: predicts FER2013 label", "there: predicts FER+ majority", "there: predicts neither"]


def models_on_ferplus(runs: list[tuple[ExperimentRecord, Path]], fer2013: FaceDataset, labels: FerPlusLabels,
                      reports_root: Path | str) -> pd.DataFrame:
    """One row per run (`record.official_split_runs`): its FER2013 PrivateTest accuracy on the images
    with a FER+ majority, its accuracy on FER+'s labels of the same images (with and without the
    contempt images), and where its predictions fall where the two label sets disagree."""
    rows = []
    for record, predictions in runs:
        scores = ferplus_test_scores(predictions, fer2013, labels)
        alignment = prediction_alignment(predictions, fer2013, labels)
        rows.append({
            "model": f"{record.paper} ({record.model})",
            "run": f"{predictions.parent.relative_to(Path(reports_root)).as_posix()}, {record.unit} {record.seeds[0]}, "
                   f"{max(record.epochs.run_per_seed)} of {record.epochs.planned} epochs",
            "images": scores["images"],
            "accuracy on FER2013 labels": scores["FER2013 labels"]["accuracy"],
            "accuracy on FER+ labels": scores["FER+"]["accuracy"],
            "FER+ ci_low": scores["FER+"]["ci_low"], "FER+ ci_high": scores["FER+"]["ci_high"],
            "FER+ without contempt": scores["FER+ without contempt"]["accuracy"],
            "contempt images (counted wrong)": 0 if scores["model has contempt"] else scores["contempt images"],
            "disagreeing images": alignment["disagreeing images"],
            "there: predicts FER2013 label": alignment["predicts FER2013 label"],
            "there: predicts FER+ majority": alignment["predicts FER+ majority"],
            "there: predicts neither": alignment["predicts neither"],
        })
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def ferplus_benchmark(runs: list[tuple[ExperimentRecord, Path]], fer2013: FaceDataset, labels: FerPlusLabels,
                      reports_root: Path | str, ferplus_record: ExperimentRecord, ferplus_folder: Path) -> pd.DataFrame:
    """The FER+ benchmark table: the field's figures (the reference paper's FER+ claims), each seven-class
    FER2013 run (`record.official_split_runs`) and the model trained on FER+ majority labels, all scored by
    `ferplus_test_scores` on FER+'s test labels of the same PrivateTest images."""
    from ..evaluate.claims import load_claims, load_paper

    rows = [{"model": f"the field: {c.where}", "trained on": "FER+", "FER+ test accuracy": c.text()}
            for c in load_claims(ferplus_record.paper) if c.dataset == "ferplus"]
    rows += [{"model": f"the field, for context (not a claim the suite reproduces): {c['where']}", "trained on": "FER+",
              "FER+ test accuracy": f"{c['range'][0]:.1%}-{c['range'][1]:.1%}" if "range" in c else f"{c['value']:.1%}"}
             for c in load_paper(ferplus_record.paper).get("context", []) if c["dataset"] == "ferplus"]
    entries = [(r, p, "FER2013 labels (7 classes)") for r, p in runs]
    entries.append((ferplus_record, Path(ferplus_folder) / ferplus_record.unit_file("predictions"),
                    "FER+ majority labels (8 classes)"))
    for record, predictions, trained_on in entries:
        scores = ferplus_test_scores(predictions, fer2013, labels)
        fer_plus, without = scores["FER+"], scores["FER+ without contempt"]
        rows.append({
            # the epochs of the unit whose predictions are scored (the first), not the most any unit ran
            "model": f"{record.paper} ({record.model}), {record.experiment}, {record.unit} {record.seeds[0]}, "
                     f"{record.epochs.run_per_seed[0]} of {record.epochs.planned} epochs",
            "trained on": trained_on, "images": scores["images"],
            "FER+ test accuracy": f"{fer_plus['accuracy']:.1%} [{fer_plus['ci_low']:.1%}, {fer_plus['ci_high']:.1%}]",
            "without contempt images": f"{without['accuracy']:.1%} (n={without['n']})",
            "contempt": "predicted" if scores["model has contempt"] else f"{scores['contempt images']} images counted wrong",
            "same images, FER2013 labels": f"{scores['FER2013 labels']['accuracy']:.1%}",
            "run": predictions.parent.relative_to(Path(reports_root)).as_posix(),
        })
    table = pd.DataFrame(rows)
    table["images"] = table["images"].astype("Int64")  # the field's rows have none
    return table


def plot_label_confusion(confusion: pd.DataFrame, path: Path | str, title: str = "") -> None:
    """The FER2013-against-FER+ table as a heat map, each row as shares of its FER2013 label."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from ..reporting.figures import save_figure

    shares = confusion.div(confusion.sum(axis=1).replace(0, 1), axis=0)
    fig, ax = plt.subplots(figsize=(10, 4.8))
    sns.heatmap(shares, annot=confusion.to_numpy(), fmt="d", cmap="Blues", vmin=0, vmax=1, cbar_kws={"label": "share of row"},
                ax=ax, annot_kws={"fontsize": 7})
    ax.set_xlabel("FER+ (ten annotators)")
    ax.set_ylabel("FER2013 label")
    ax.tick_params(axis="x", rotation=35)
    ax.tick_params(axis="y", rotation=0)
    save_figure(fig, path, title)


def summary_markdown(by_split: pd.DataFrame, consensus: dict, implications: pd.DataFrame) -> str:
    """Two paragraphs a reader can check, every number from the tables given."""
    private = by_split.set_index("split").loc[consensus["split"]]
    overall = by_split.set_index("split").loc["all"]
    worst = implications.iloc[2:].sort_values("claimed").tail(1)
    line = ""
    if len(worst):
        w = worst.iloc[0]
        line = (f" {w.who} claims {w.claimed:.1%}: on these images, a model at that accuracy would have to side with "
                f"the single FER2013 label against the ten annotators' majority on at least "
                f"{w['must side with the FER2013 label where the majority disagrees']:.0%} of the images where they disagree.")
    return (f"Over all {int(overall['majority emotion']):,} images with a FER+ majority emotion, the FER2013 label equals "
            f"the majority for {overall.agreement:.1%} (by the data README's plurality rule, {overall['plurality agreement (README rule)']:.1%}); "
            f"the annotators split on {overall['annotators split share']:.1%} of the images with FER+ votes. "
            f"On {consensus['split']}, the majority scored as predictions against FER2013's labels reaches "
            f"{consensus['accuracy']:.1%} (95% CI {consensus['ci_low']:.1%}-{consensus['ci_high']:.1%}, "
            f"{consensus['scored']:,} images), {'near' if abs(consensus['accuracy'] - HUMAN_ACCURACY) < 0.05 else 'unlike'} "
            f"the {HUMAN_ACCURACY:.0%} humans reach on FER2013.{line}\n\n"
            "What this bounds and what it does not: it is not a ceiling on accuracy, since a model can learn FER2013's "
            "own labelling habits (credible single models reach 73-76%); it says how much of a very high score must "
            f"come from agreeing with one annotator where ten others disagree (on {consensus['split']}, "
            f"{1 - private.agreement:.1%} of the images with a majority emotion).")


def write_label_noise_report(folder: Path | str, fer2013: FaceDataset, labels: FerPlusLabels, profile: str,
                             models: pd.DataFrame | None = None) -> dict:
    """The label-noise folder, written atomically: agreement per split and per class, the confusion of
    FER2013 labels against FER+ (CSV and heat map), the consensus-as-prediction accuracy, the claims
    beside it, how our models' predictions fall (`models`, when given), and report.html."""
    from ..files import atomic_folder, write_json, write_text

    by_split = agreement_by_split(fer2013, labels)
    by_class = agreement_by_class(fer2013, labels)
    confusion = label_confusion(fer2013, labels)
    consensus = consensus_as_prediction(fer2013, labels)
    implications = claim_implications(consensus, fer2013_headline_claims())
    text = summary_markdown(by_split, consensus, implications)
    with atomic_folder(folder) as tmp:
        by_split.to_csv(tmp / "agreement_by_split.csv", index=False)
        by_class.to_csv(tmp / "agreement_by_class.csv", index=False)
        confusion.to_csv(tmp / "fer2013_vs_ferplus.csv")
        label_confusion(fer2013, labels, "PrivateTest").to_csv(tmp / "fer2013_vs_ferplus_privatetest.csv")
        implications.to_csv(tmp / "claims_beside_consensus.csv", index=False)
        plot_label_confusion(confusion, tmp / "fer2013_vs_ferplus.png",
                             "FER2013 labels against the FER+ majority (all splits; colour: share of each row)")
        if models is not None:
            models.to_csv(tmp / "models.csv", index=False)
        summary = {"profile": profile, "images": len(fer2013), "label_mode": labels.mode,
                   "counts": labels.counts().reset_index().to_dict(orient="records"),
                   "consensus_as_prediction": consensus, "summary": text}
        write_json(tmp / "summary.json", summary)
        tables = "".join(f"<h2>{title}</h2>{table.to_html(index=False, float_format=lambda x: f'{x:.4f}')}"
                         for title, table in (("Agreement per split", by_split), ("Agreement per FER2013 class", by_class),
                                              ("Claims beside the consensus", implications),
                                              *((("Our models on the images where the labels disagree", models),)
                                                if models is not None else ())))
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        write_text(tmp / "report.html", f"""<!doctype html><html><head><meta charset="utf-8">
<title>Label noise: FER2013 against FER+</title><style>body{{font-family:sans-serif;margin:2em}}
td,th{{padding:2px 6px}}</style></head><body>
<h1>Label noise: FER2013's labels against FER+'s ten annotators ({profile} profile)</h1>
<p>Executed notebook: <a href="../notebook.html">notebook.html</a>.</p>{paragraphs}
<img src="fer2013_vs_ferplus.png" style="max-width:100%">{tables}
<pre>{json.dumps(summary["counts"], indent=1)}</pre></body></html>
""")
    return summary
