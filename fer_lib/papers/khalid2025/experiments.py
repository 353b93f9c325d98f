"""khalid2025's experiments: its model on FER2013 under the standard protocol, the attention
ablation at equal epochs on the same split and seeds, and fine-tuning on CK+48 from the FER2013 model
against training there from scratch.

What the abstract states: FER2013, 83%. What it does not (protocol, backbone, input size, optimizer,
learning rate, batch size, epochs, augmentation) is read as in `claims.json`'s reading table: the
standard protocol (fit on Training, select on PublicTest, test once on PrivateTest, with the
deduplicated PrivateTest beside it), Adam at 1e-3, batch 32, 50 epochs, horizontal flips and
rotations up to 10 degrees of every training image.
The backbone starts from scratch here (this machine cannot download ImageNet weights); an online
user passes `model_options={"weights": "imagenet"}`.

The cpu budget (minutes per seed) is sized for 2 CPU cores, where an epoch takes a few minutes:
the run is a lower bound there, the `paper` profile runs the 50 epochs.
"""
from ...data import PreprocessConfig
from ...evaluate.spec import ExperimentSpec
from ...evaluate.study_specs import AblationSpec
from ...evaluate.study_specs import FineTuneSpec
from ...train import TrainConfig
from . import PAPER
from .models import backbone_layer_name, top_layers

TRAINING = TrainConfig(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=50, balance=False, augment="all",
                         flip="horizontal", rotation_degrees=10.0)
# FER2013's images are already 48x48 face crops: no Haar crop, no equalization (the abstract names none)
PREPROCESS = PreprocessConfig(face_crop=False, equalize=False)
MODEL = "khalid2025_attention_cnn"
# The backbone's batch-normalization momentum, as `studies.option_probe` chose it on held-out Training
# images (reports/cpu/khalid2025/option_probe_fer2013_standard_bn_momentum.md; a test keeps them equal):
# with MobileNetV2's own 0.999 the first from-scratch run predicted one class in inference mode.
OPTIONS = {"bn_momentum": 0.9}
_ckplus = TrainConfig(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=15, balance=False, augment="all",
                      flip="horizontal", rotation_degrees=10.0, collapse_patience=None)
_ckplus_top = TrainConfig(optimizer="adam", learning_rate=1e-4, batch_size=32, epochs=15, balance=False, augment="all",
                          flip="horizontal", rotation_degrees=10.0, collapse_patience=None)
_common = dict(paper=PAPER, dataset="fer2013", preprocess=PREPROCESS, training=TRAINING, seeds=(0,))

EXPERIMENTS = [
    ExperimentSpec(
        name="fer2013_standard", title="Fine-tuned CNN with region and self-attention, standard protocol: train on "
                                       "Training, select on PublicTest, test on PrivateTest",
        protocol="official", model=MODEL, model_options=OPTIONS, cpu_budget_minutes=40, fallback_lr=1e-4, **_common),
]

# Each attention mechanism off, at the epochs the full model reached; the full model's runs are the
# experiment's own (same model, split, training and budget), so they are not trained twice.
STUDIES = [
    AblationSpec(
        name="attention_ablation", title="Region attention and self-attention, each switched off, at equal epochs",
        model=MODEL, arms={"both attentions": OPTIONS, "without region attention": {**OPTIONS, "region_attention": False},
                           "without self-attention": {**OPTIONS, "self_attention": False},
                           "without either": {**OPTIONS, "region_attention": False, "self_attention": False}},
        equal="epochs", cpu_budget_minutes=40, reference_runs_of="fer2013_standard", **_common),
    # Transfer learning as a method: the FER2013 model fine-tuned on CK+48's subject-independent split
    # (frozen MobileNetV2 first, then its top blocks at a tenth of the rate) against the same model
    # trained on CK+48 from scratch for as many epochs. Every epoch runs (no collapse stop), so both
    # arms get the same training whatever their first epochs predict.
    FineTuneSpec(
        paper=PAPER, name="ckplus_fine_tuning", title="Pretrained on FER2013, fine-tuned on CK+48 (subject-independent) "
                                                     "against the same model trained on CK+48 from scratch",
        model=MODEL, source_experiment="fer2013_standard",
        freeze=lambda model: model.get_layer(backbone_layer_name("mobilenetv2")),
        top_layers=lambda model: top_layers(model, "mobilenetv2"),
        frozen=_ckplus, top=_ckplus_top, preprocess=PREPROCESS, cpu_budget_minutes=10, seeds=(0, 1, 2)),
]
