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
