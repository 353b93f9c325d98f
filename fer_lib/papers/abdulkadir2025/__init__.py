"""abdulkadir2025: "Evaluating Facial Emotional Proportion Based on Computer Vision Technique", JOIG 2025
(`../shared/papers/002_42f0496524bbd73c.txt`).

- `models.py`: VGG19, the "Sequential model" and the ResNet50 + MobileNetV2 + CBAM hybrid, with the
  readings chosen where the paper is silent in its docstring;
- `claims.json`: the paper's numbers, oddities and signs of protocol flaws.
Its experiments and notebook are not written yet (the abdulkadir2025 issue).
"""
PAPER = "abdulkadir2025"
