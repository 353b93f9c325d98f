"""Reporting: what the suite shows a reader, generated from the saved runs.

- `experiment_report.py`: an experiment's report folder, written from its runs or re-rendered from what they saved;
- `answers.py`: one answer per paper for the index;
- `figures.py`: faces, learning curves, confusion matrices, sample grids;
- `tables.py`: Markdown tables and the claims table;
- `pages.py`: one experiment's HTML page and its summary paragraph;
- `index.py`: the results index (HTML and Markdown) and the compute table;
- `readme.py`: the README's generated blocks.
The commit and environment a run trained under are recorded by `fer_lib.provenance`.
"""
