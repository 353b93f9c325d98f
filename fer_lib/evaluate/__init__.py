"""Evaluation: one run trained and scored, where runs are kept, metrics, claims and verdicts, the record.

- `spec.py`: `ExperimentSpec` (a paper's protocol as data) and the names and settings its runs derive from it;
- `runner.py`: one run trained, selected on validation and scored once (`train_and_evaluate`, `train_unit`);
- `run_store.py`: where a run's checkpoints and report live, and what a saved report stands for;
- `metrics.py`: accuracy with Wilson CIs, per-class metrics, confusion matrices, saved predictions;
- `claims.py`: each paper's claims (`papers/<paper>/claims.json`) beside what we measured, with verdicts;
- `record.py`: `ExperimentRecord`, the typed `experiment.json`.

Running a whole experiment and writing its report sit above this package: `studies.experiment_runs` and
`reporting.experiment_report`.
"""
