"""The README's generated blocks, refreshed from the saved reports."""
from __future__ import annotations

from pathlib import Path

from ..config import REPO_ROOT
from ..files import write_text


def update_readme(readme: Path | str = REPO_ROOT / "README.md", reports_root: Path | str = REPO_ROOT / "reports") -> None:
    """Refresh the README's generated blocks (results table, benchmarks) from the saved reports.

    A block is the text between `<!-- BEGIN name -->` and `<!-- END name -->`; its content comes from
    `reports/status.md` (the status table), `reports/index.md` (results) and `reports/benchmarks/{foundation,training,backends,recognizer}.md` (benchmarks) and
    `reports/cpu/out_of_domain/summary.md` (the out-of-domain benchmark).
    """
    readme, reports_root = Path(readme), Path(reports_root)
    text = readme.read_text()
    sources = {
        "answers": reports_root / "answers.md",
        "status": reports_root / "status.md",
        "results": reports_root / "index.md",
        "benchmarks": reports_root / "benchmarks" / "foundation.md",
        "training-benchmark": reports_root / "benchmarks" / "training.md",
        "backends-benchmark": reports_root / "benchmarks" / "backends.md",
        "recognizer-benchmark": reports_root / "benchmarks" / "recognizer.md",
        "out-of-domain": reports_root / "cpu" / "out_of_domain" / "summary.md",
    }
    for name, source in sources.items():
        begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
        if begin not in text or end not in text:
            continue
        if source.exists():
            body = source.read_text()
            if name == "results":  # the index from its first table on, links relative to the README
                lines = body.splitlines()
                start = next((i for i, line in enumerate(lines) if line.startswith(("|", "!["))), len(lines))
                body = "\n".join(line.replace("## ", "### ", 1) if line.startswith("## ") else line
                                 for line in lines[start:])
            if name in ("results", "status", "answers"):  # links relative to the README
                body = body.replace("](", "](reports/")
        else:
            how = {"results": "make reproduce-all",
                   "recognizer-benchmark": "python -m fer_lib.studies.recognizer_benchmark",
                   "out-of-domain": "python -m fer_lib.studies.out_of_domain --profile cpu"}.get(name, "make bench")
            body = f"_Not measured yet: run `{how}`._"
        head, rest = text.split(begin, 1)
        text = head + begin + "\n" + body.strip() + "\n" + end + rest.split(end, 1)[1]
    write_text(readme, text)
