"""yousaf2024: Yousaf, Anjum, Ibrar, Bibi, Asghar, "Modified Convolutional Neural Networks for Facial
Emotion Classification", IJIST 6(4):1897-1912, Nov 2024 (`../shared/papers/004_203bdd25f6d9d1c2.txt`).

- `models.py`: the CNN, with every choice the paper leaves unstated in its docstring;
- `experiments.py`: the paper's protocols and the standard ones, as data;
- `claims.json`: every number the paper claims, its oddities and its signs of protocol flaws.
The notebook is `notebooks/yousaf2024.ipynb`.
"""
PAPER = "yousaf2024"
