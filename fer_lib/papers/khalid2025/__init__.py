"""khalid2025: "Fine-Tuned CNNs with Self-Attention Mechanism for Enhanced Facial Expression Recognition",
IJDIIC 4(2), 2025 (`../shared/papers/003_b861d9353ada38fc.txt`, an abstract with references only).

- `models.py`: the fine-tuned CNN with dynamic region attention and self-attention, and its backbones;
- `experiments.py`: its FER2013 run, the attention ablation and the CK+48 fine-tuning study;
- `claims.json`: the abstract's one number, and the reading table (what the paper says / what we
  built / why) that its notebook opens with and its reports carry.
"""
PAPER = "khalid2025"
