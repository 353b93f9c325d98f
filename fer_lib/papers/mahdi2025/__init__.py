"""mahdi2025: "A Hybrid Deep Learning Model for Facial Emotion Recognition: Combining Multi-Scale Features,
Dynamic Attention, and Residual Connections", ICAIIT 2025 13(2):69-77 (`../shared/papers/000_2e622de1b01db2e9.txt`
and `001_597ee88a482c3016.txt`, an abstract with references only).

- `models.py`: the multi-scale, dynamic-attention, residual network;
- `experiments.py`: its FER2013 runs and the attention ablation;
- `claims.json`: the abstract's number and the reading table its notebook opens with.
"""
PAPER = "mahdi2025"
