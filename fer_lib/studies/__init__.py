"""Studies: what trains and then reports, above the evaluation and reporting layers.

- `experiment_runs.py`: a paper's experiment run and reported (the learning-rate rule), or read as saved;
- `render.py`: every report folder re-rendered from its saved raw outputs, by its kind;
- `ablation.py`, `fine_tune.py`, `paper_studies.py`: a paper's studies of arms;
- `lr_probe.py`, `option_probe.py`: settings chosen on held-out training images, saved with their result;
- `reference_model.py`, `shipping.py`, `model_card.py`: the reference model compared, shipped and described;
- `audit.py`, `label_noise.py`, `leakage.py`, `collapse_study.py`, `out_of_domain.py`: the data audit and the
  studies across papers; `benchmark.py`, `training_benchmark.py`, `backends_benchmark.py`,
  `recognizer_benchmark.py`: the benchmarks; `campaign.py`, `lease.py`: runs spread over a lent GPU.
"""
