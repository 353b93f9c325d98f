"""Tables: Markdown rendering and the claims table written beside each experiment."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..files import write_text


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of `df` (no index)."""
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        return str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_claims_table(rows: list[dict], folder: Path) -> pd.DataFrame:
    """claims.csv and claims.md in `folder`; returns the table."""
    df = pd.DataFrame(rows)
    df.to_csv(folder / "claims.csv", index=False)
    write_text(folder / "claims.md", markdown_table(df))
    return df


def write_probe_markdown(path: Path | str, heading: str, columns: tuple[str, ...], chosen: str) -> Path:
    """A saved probe's record (`path`: its .json, with `rows`, `split`, `rule`) as markdown beside it: `heading`,
    the split and rule, the `chosen` value, the commits its runs trained under, and the rows' `columns`."""
    import json

    from ..provenance import trained_at_text

    path = Path(path)
    record = json.loads(path.read_text())
    table = pd.DataFrame([{k: r[k] for k in columns} for r in record["rows"]])
    segments = [seg for r in record["rows"] for seg in r.get("backends") or []]
    out = path.with_suffix(".md")
    write_text(out, f"# {heading}\n\n{record['split']}; {record['rule']}. Chosen: **{chosen}**. Trained at: "
               f"{trained_at_text(segments)}.\n\n{markdown_table(table)}\n")
    return out
