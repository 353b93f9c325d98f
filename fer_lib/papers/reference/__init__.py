"""reference: the suite's own reference model, the one the recognizer ships. Not a paper's model: a
compact VGG-style network trained with Khaireddin and Chen's recipe ("Facial Emotion Recognition:
State of the Art Performance on FER2013", arXiv:2105.03588, 2021: 73.28% on PrivateTest), sized so
that the `cpu` profile trains it on 2 CPU cores.

- `models.py`: the network (`reference_cnn`), with what it keeps of and changes from Khaireddin and
  Chen's VGGNet and why;
- `experiments.py`: the standard protocol (fit on Training, select on PublicTest, test once on
  PrivateTest and on the deduplicated PrivateTest) with their training recipe;
- `claims.json`: Khaireddin and Chen's published numbers (the recipe's), and the reading table.
Its notebook is `notebooks/reference_model.ipynb`; the trained model is `fer_lib/recognizer/models/`.
"""
PAPER = "reference"
