"""Figures: faces, learning curves, confusion matrices, sample grids; one helper saves them all."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def show_face(ax, image: np.ndarray, title: str = "", fontsize: int = 8) -> None:
    """A grayscale 0-255 image on `ax`, without ticks."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=fontsize)
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(fig, path: Path | str, title: str = "", title_size: float | None = None) -> None:
    """Title, lay out, write as PNG and close a figure."""
    fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curves(histories: dict[int, pd.DataFrame], path: Path | str, title: str = "") -> None:
    """Accuracy and loss per epoch, train and validation, one line per seed."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for seed, h in histories.items():
        if h.empty:
            continue
        for ax, metric in zip(axes, ("accuracy", "loss")):
            line, = ax.plot(h["epoch"], h[metric], label=f"train (seed {seed})")
            if f"val_{metric}" in h:
                ax.plot(h["epoch"], h[f"val_{metric}"], "--", color=line.get_color(), label=f"validation (seed {seed})")
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    save_figure(fig, path, title)


def plot_confusion(metrics: dict, path: Path | str, title: str = "") -> None:
    """Seaborn heatmaps of the confusion matrix: counts and row-normalised."""
    names = metrics["class_names"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    sns.heatmap(np.array(metrics["confusion_matrix"]), annot=True, fmt="d", cmap="Blues",
                xticklabels=names, yticklabels=names, ax=axes[0], cbar=False)
    sns.heatmap(np.array(metrics["confusion_matrix_normalized"]), annot=True, fmt=".2f", cmap="Blues",
                vmin=0, vmax=1, xticklabels=names, yticklabels=names, ax=axes[1], cbar=False)
    for ax, sub in zip(axes, ("counts", "row-normalised (diagonal = recall)")):
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub)
    save_figure(fig, path, title)


def plot_samples(dataset, raw: np.ndarray, preprocessed: np.ndarray, per_class: int = 1, title: str = ""):
    """A figure of one raw and one preprocessed image per class of `dataset` (top and bottom rows)."""
    n = dataset.num_classes
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6))
    for c, name in enumerate(dataset.class_names):
        index = np.flatnonzero(dataset.labels == c)[:per_class]
        for row, images in enumerate((raw, preprocessed)):
            if len(index):
                show_face(axes[row, c], images[index[0]], name if row == 0 else "", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_claims_overview(rows: list[dict], path: Path | str, title: str = "") -> None:
    """One paper's accuracy claims beside what we measured: per row a claim (black diamond, or a bar for
    a claimed range) and our measurement with its 95% CI, coloured by the verdict's category.

    `rows`: {"label", "claimed" (a value or a (low, high) range), "measured", "ci_low", "ci_high", "category"}."""
    from ..evaluate.claims import VERDICT_CATEGORIES

    fig, ax = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.6))
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        colour = VERDICT_CATEGORIES[row["category"]][1]
        ax.errorbar(100 * row["measured"], yi, xerr=[[100 * (row["measured"] - row["ci_low"])],
                                                    [100 * (row["ci_high"] - row["measured"])]],
                    fmt="o", color=colour, capsize=3)
        claimed = row["claimed"]
        if isinstance(claimed, (tuple, list)):
            ax.plot([100 * claimed[0], 100 * claimed[1]], [yi, yi], color="black", lw=4, alpha=0.4)
        else:
            ax.plot(100 * claimed, yi, "D", color="black", markersize=5)
    ax.set_yticks(y, [r["label"] for r in rows], fontsize=8)
    ax.set_xlabel("accuracy (%): black, the paper's claim; dot and bar, ours with its 95% CI")
    ax.set_xlim(0, 100)
    ax.grid(axis="x", alpha=0.3)
    used = dict.fromkeys(row["category"] for row in rows)  # in order of first appearance
    ax.legend(handles=[plt.Line2D([], [], marker="o", ls="", color=VERDICT_CATEGORIES[c][1], label=c) for c in used],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="verdict", title_fontsize=8)
    save_figure(fig, path, title, title_size=10)
