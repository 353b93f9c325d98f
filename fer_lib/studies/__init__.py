"""Studies across papers: the data audit, the leakage study, and the benchmarks (foundation and training)."""
