"""yousaf2024's experiments: the paper's protocol on FER2013 and CK+48, plus the standard protocols.

Paper settings for all: Haar crop, histogram equalization, 48x48, class balancing by flips and
+-45 degree rotations on the training split, Adam lr 0.01, batch 16, 100 epochs. "Training
ratio 0.8" is read as 20% of the training part held out for validation (epoch selection).
The cpu budgets (minutes per seed) let every seed reach the paper's 100 epochs on 2 CPU cores (a
balanced FER2013 epoch takes 60-90 s there in bfloat16, a CK+48 epoch 2-4 s); the budget is a
ceiling, and a seed that stops at it is reported as a lower bound.
Tables 3-4 are captioned "training results", so every claim is also set beside the training split.
"""
from ...evaluate.spec import ExperimentSpec
from ...train import TrainConfig
from . import PAPER

_training = TrainConfig(optimizer="adam", learning_rate=0.01, batch_size=16, epochs=100, balance=True, augment="copies")
_common = dict(paper=PAPER, model="yousaf2024", training=_training, fallback_lr=3e-4, compare_on_train_split=True)

EXPERIMENTS = [
    ExperimentSpec(
        name="fer2013_random75", title="FER2013, the paper's random 75:25 split of all 35,887 images",
        dataset="fer2013", protocol="random_stratified",
        protocol_options={"test_fraction": 0.25, "val_fraction": 0.2},
        cpu_budget_minutes=150, seeds=(0,), **_common),
    ExperimentSpec(
        name="fer2013_official", title="FER2013, standard protocol: train on Training, select on PublicTest, test on PrivateTest",
        dataset="fer2013", protocol="official", cpu_budget_minutes=150, seeds=(0, 1, 2), **_common),
    ExperimentSpec(
        name="ckplus48_random80", title="CK+48, the paper's random 80:20 split (frames of one subject on both sides)",
        dataset="ckplus48", protocol="random_stratified",
        protocol_options={"test_fraction": 0.2, "val_fraction": 0.2},
        cpu_budget_minutes=8, seeds=(0, 1, 2), **_common),
    ExperimentSpec(
        name="ckplus48_subject", title="CK+48, subject-independent 80:20 split (no subject on both sides)",
        dataset="ckplus48", protocol="subject_independent",
        protocol_options={"test_fraction": 0.2, "val_fraction": 0.2},
        cpu_budget_minutes=8, seeds=(0, 1, 2), **_common),
]
