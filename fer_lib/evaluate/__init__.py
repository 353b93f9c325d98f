"""Evaluation: the experiment runner, metrics, claims and verdicts, and the experiment record.

- `runner.py`: `ExperimentSpec` (a paper's protocol as data), `run_experiment`, and `rerender`
  (a report folder rebuilt from its saved predictions);
- `metrics.py`: accuracy with Wilson CIs, per-class metrics, confusion matrices, saved predictions;
- `claims.py`: each paper's claims (`papers/<paper>/claims.json`) beside what we measured, with verdicts;
- `record.py`: `ExperimentRecord`, the typed `experiment.json`.
"""
