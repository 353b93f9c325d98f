"""The eye-alignment probe: how the eye cascade's settings (`PreprocessConfig.eye_upscale`, `eye_min_neighbors`) were
chosen, as code with its saved result.

On a seeded sample of FER2013 Training images (never a test split: PublicTest selects the candidates and PrivateTest
reports them), each setting in `GRID` is run through `alignment.align_on_eyes` and scored by the share of faces it
levels (a pair of eyes found, no steeper than `max_eye_angle`), and the rule (`RULE`, fixed before the probe first
ran) picks one. Milliseconds per face are recorded beside the shares on
the machine that ran it, not used to choose (they move with the load). Saved to
`<reports_root>/cpu/reference/alignment_probe.json` and `.md`, beside the reference model's other runs, as the
other probes are saved in their paper's folder; a test checks that `PreprocessConfig`'s defaults are what
it chose.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..config import portable_path, reports_dir
from ..data import load_dataset
from ..data.alignment import detect_eyes, eye_angle
from ..data.preprocessing import PreprocessConfig
from ..errors import FerError
from ..files import write_json, write_text
from ..papers.reference import PAPER as REFERENCE  # the candidate it serves is the reference model's
from ..provenance import environment

GRID = tuple((upscale, neighbours) for upscale in (2, 3, 4) for neighbours in (3, 5))
SHARE_TOLERANCE = 0.02
PROBE_IMAGES = 1000
PROBE_SEED = 0
RULE = (f"among the settings whose share of faces levelled is within {SHARE_TOLERANCE:.0%} of the best, the one with "
        "the most neighbours (the cascade's guard against false detections), then the smallest upscale (the fastest)")


def probe_path(reports_root: Path | str | None = None) -> Path:
    """Where the probe's result is saved (it runs on the CPU, whatever profile is rendered)."""
    return Path(reports_root or reports_dir()) / "cpu" / REFERENCE / "alignment_probe.json"


def choose(rows: list[dict], tolerance: float = SHARE_TOLERANCE) -> dict:
    """The setting the rule picks from `rows` (each with upscale, min_neighbors, levelled_share): see the module."""
    best = max(row["levelled_share"] for row in rows)
    close = [row for row in rows if row["levelled_share"] >= best - tolerance]
    return min(close, key=lambda row: (-row["min_neighbors"], row["upscale"]))


def score_setting(faces: np.ndarray, upscale: int, min_neighbors: int, max_eye_angle: float) -> dict:
    """How one setting does on `faces` (N, H, W uint8): shares with a pair of eyes found, levelled, and turned away
    as too steep, the median absolute angle of the levelled ones, and milliseconds per face."""
    start = time.perf_counter()
    found = [detect_eyes(face, upscale, min_neighbors) for face in faces]
    seconds = time.perf_counter() - start
    angles = [abs(eye_angle(eyes)) for eyes in found if eyes is not None]
    kept = [a for a in angles if a <= max_eye_angle]  # what `align_on_eyes` levels
    return {"upscale": upscale, "min_neighbors": min_neighbors,
            "pair_found_share": round(len(angles) / len(faces), 4), "levelled_share": round(len(kept) / len(faces), 4),
            "too_steep_share": round((len(angles) - len(kept)) / len(faces), 4),
            "median_abs_angle_degrees": round(float(np.median(kept)), 2) if kept else None,
            "ms_per_face": round(1000 * seconds / len(faces), 2)}


def run_alignment_probe(data_root: Path | str | None = None, reports_root: Path | str | None = None,
                        n_images: int = PROBE_IMAGES) -> dict:
    """Score every setting in `GRID` on `n_images` FER2013 Training faces, apply the rule and save the result."""
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 10:
        raise FerError(f"n_images must be a whole number of at least 10, got {n_images!r}")
    dataset = load_dataset("fer2013", data_root)
    if dataset.split is None:
        raise FerError(f"{dataset.source} has no official split per image, so its Training part is unknown; the probe "
                       "needs FER2013 in the Kaggle folders or CSV layout")
    training = np.flatnonzero(dataset.split.astype(str) == "Training")
    chosen_from = np.random.default_rng(PROBE_SEED).choice(training, min(n_images, len(training)), replace=False)
    faces = dataset.images[np.sort(chosen_from)]
    max_angle = PreprocessConfig().max_eye_angle
    rows = [score_setting(faces, upscale, neighbours, max_angle) for upscale, neighbours in GRID]
    chosen = choose(rows)
    result = {"what": "eye cascade settings for eye alignment (issue 50's eye_aligned candidate)",
              "data": f"{len(faces)} FER2013 Training images, seed {PROBE_SEED} ({portable_path(dataset.source)})",
              "rule": RULE,
              "max_eye_angle": max_angle, "rows": rows,
              "chosen": {"eye_upscale": chosen["upscale"], "eye_min_neighbors": chosen["min_neighbors"]},
              "environment": environment()}
    path = probe_path(reports_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result)
    write_text(path.with_suffix(".md"), probe_markdown(result))
    return result


def probe_markdown(result: dict) -> str:
    """The probe's table and choice, for a reader."""
    lines = [f"# Eye-alignment probe\n\n{result['data']}. Rule: {result['rule']}.\n",
             "| upscale | neighbours | pair found | levelled | too steep | median abs angle | ms per face |",
             "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['upscale']} | {row['min_neighbors']} | {row['pair_found_share']:.1%} | "
                     f"{row['levelled_share']:.1%} | {row['too_steep_share']:.1%} | "
                     f"{row['median_abs_angle_degrees']} | {row['ms_per_face']} |")
    chosen = result["chosen"]
    lines.append(f"\nChosen: upscale {chosen['eye_upscale']}, {chosen['eye_min_neighbors']} neighbours "
                 f"(CPU: {result['environment'].get('cpu', 'unknown')}).\n")
    return "\n".join(lines)
