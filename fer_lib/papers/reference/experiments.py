"""The reference model's experiment: the standard FER2013 protocol (fit on Training, select the epoch
on PublicTest, test once on PrivateTest and on the deduplicated PrivateTest) with Khaireddin and
Chen's recipe: SGD with Nesterov momentum 0.9 at 0.01, weight decay, batch 64; random shifts (which
with the model's centre crop make random 40x40 crops), zooms of up to 20%, rotations up to 10
degrees, horizontal flips, and random erasing with probability 0.5.

What changes, and why: their reduce-on-plateau schedule over 300 epochs becomes a cosine decay over
the planned epochs (one warm-up epoch), which anneals fully within a fixed budget; 150 epochs on the
`paper` profile, and on `cpu` 100, about 2 to 5 hours on 2 CPU cores depending on the CPU (the budget,
7 hours counted across restarts, is a safety stop; the run resumes from its checkpoint). The first cpu
run planned 50 epochs and ended underfitted (70.8% on the unaugmented Training images, validation flat
at about 64% over its last 15 epochs), so the cpu schedule was doubled; FER+ keeps 50, which reached
the field's figure.
`fer2013_light_reg` is the same run with the regularisation of Khaireddin and Chen's released code
(github.com/usef-kh/fer: `torch.optim.SGD(..., weight_decay=0.0001)`, `Vgg(drop=0.2)`): weight decay
1e-4 and dropout 0.2 instead of 5e-4 and 0.4. It was added because the 100-epoch `fer2013_standard`
run underfits (76.8% on its unaugmented Training images, PublicTest flat at about 65.5% over its last
30 epochs), not from any test score; `notebooks/reference_model.ipynb` ships whichever of `FER2013_RECIPES`
(below) reaches the highest best-epoch PublicTest accuracy (`studies.reference_model.select_recipe`).
`fer2013_restart` continues `fer2013_standard` with a second, shorter cosine cycle (a warm restart in the
manner of SGDR, Loshchilov and Hutter 2017): it starts from the weights of the standard run's selected
epoch (`evaluate.warm_start`), peaks at half the first cycle's learning rate (0.005, one warm-up epoch)
and anneals over 40 epochs on `cpu` (50 on `paper`), with everything else as the standard recipe. It was
added because the standard run underfits and a run afresh for more epochs takes 2.5 to 5 hours on 2 CPU
cores, where this takes about an hour; its report counts the source run's epochs with its own. The cycle's
length and peak were fixed before it trained, not chosen on any score.
`fer2013_restart2` is a third cycle, identical to the second, from `fer2013_restart`'s selected weights:
the cycles of SGDR, whose selected weights are also the snapshots of a snapshot ensemble (Huang et al.
2017, `studies.reference_model.snapshot_ensemble_entries`). It was added, with its cycle fixed as the second's,
because the second cycle still ended underfitted (80.0% on the unaugmented Training images), not from
any test score.
Ten-crop test-time augmentation (the centre, four corners, each mirrored) is scored beside the
single centre crop (`evaluate.tta`).

`ferplus_majority` trains the same network with the same recipe once on FER+'s majority labels (eight
classes, `data.ferplus`) for the FER+ benchmark (`notebooks/ferplus.ipynb`), where the field reports about
83% for the FER+ VGG13 baseline and 88-90% for the best models.
"""
from dataclasses import replace

from ...data import PreprocessConfig
from ...evaluate.spec import ExperimentSpec
from ...train import TrainConfig
from . import PAPER

TRAINING = TrainConfig(optimizer="sgd", learning_rate=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4,
                       batch_size=64, epochs=150, schedule="cosine", warmup_epochs=1, balance=False, augment="all",
                       flip="horizontal", rotation_degrees=10.0, zoom=0.2, translate=0.1, erasing=0.5,
                       collapse_patience=None)
# the released code's regularisation (see above); everything else as TRAINING
LIGHT_REG_TRAINING = replace(TRAINING, weight_decay=1e-4)
LIGHT_REG_DROPOUT = 0.2
# Issue 50's `strong_augment` candidate (`studies.out_of_domain.CANDIDATES`): the shipped recipe with stronger
# photometric and geometric augmentation, its strengths fixed here before it is trained or any score of it is read.
# It is not an experiment of this paper (no run of it scores PrivateTest, which holds the out-of-domain benchmark's
# FER+ report part): the candidates train on the selection rule's terms.
STRONG_AUGMENT_TRAINING = replace(LIGHT_REG_TRAINING, rotation_degrees=20.0, zoom=0.3, translate=0.15, shear=0.2,
                                  brightness=0.3, contrast=0.3, blur=0.5)
# FER2013's images are already 48x48 face crops
PREPROCESS = PreprocessConfig(face_crop=False, equalize=False)

# the second cosine cycle of `fer2013_restart`, from the standard run's selected weights (see above)
RESTART_TRAINING = replace(TRAINING, learning_rate=0.005, epochs=50)
RESTART_CPU_EPOCHS = 40

# the FER2013 recipes the reference model's notebook chooses between on PublicTest (first wins a tie); a
# warm restart comes after the run it starts from
FER2013_RECIPES = ("fer2013_standard", "fer2013_light_reg", "fer2013_restart", "fer2013_restart2")
# the rule that ships one of them, fixed in the same commit as every recipe it chooses among (logged with each
# look at PrivateTest, `evaluate.test_looks`); `studies.reference_model.select_recipe` applies it
SELECTION_RULE = ("the highest PublicTest accuracy at the run's selected epoch among FER2013_RECIPES; a run that did not "
                  "train, then one stopped short of its planned epochs, ranks below every completed run")
# the chain of warm restarts, each from the one before, whose selected weights are the snapshots of the snapshot
# ensemble the notebook reports beside the shipped model (never shipped: it multiplies the recognizer's work)
SNAPSHOT_CHAIN = ("fer2013_standard", "fer2013_restart", "fer2013_restart2")

EXPERIMENTS = [
    ExperimentSpec(
        paper=PAPER, name="fer2013_standard", title="Reference model (Khaireddin and Chen's recipe, narrowed): train "
                                                    "on Training, select on PublicTest, test on PrivateTest",
        dataset="fer2013", protocol="official", model="reference_cnn", training=TRAINING, preprocess=PREPROCESS,
        cpu_budget_minutes=420, cpu_epochs=100, fallback_lr=None, seeds=(0,), selection_rule=SELECTION_RULE),
    ExperimentSpec(
        paper=PAPER, name="fer2013_light_reg", title="Reference model with the regularisation of Khaireddin and "
                                                     "Chen's released code (weight decay 1e-4, dropout 0.2): train "
                                                     "on Training, select on PublicTest, test on PrivateTest",
        dataset="fer2013", protocol="official", model="reference_cnn", training=LIGHT_REG_TRAINING,
        model_options={"dropout": LIGHT_REG_DROPOUT}, preprocess=PREPROCESS, cpu_budget_minutes=420, cpu_epochs=100,
        fallback_lr=None, seeds=(0,), selection_rule=SELECTION_RULE),
    ExperimentSpec(
        paper=PAPER, name="fer2013_restart", title="Reference model, fer2013_standard continued by a second cosine "
                                                   "cycle (a warm restart): train on Training, select on PublicTest, "
                                                   "test on PrivateTest",
        dataset="fer2013", protocol="official", model="reference_cnn", training=RESTART_TRAINING, preprocess=PREPROCESS,
        cpu_budget_minutes=150, cpu_epochs=RESTART_CPU_EPOCHS, fallback_lr=None, seeds=(0,),
        start_from="fer2013_standard", selection_rule=SELECTION_RULE),
    ExperimentSpec(
        paper=PAPER, name="fer2013_restart2", title="Reference model, fer2013_restart continued by a third cosine "
                                                    "cycle (a second warm restart): train on Training, select on "
                                                    "PublicTest, test on PrivateTest",
        dataset="fer2013", protocol="official", model="reference_cnn", training=RESTART_TRAINING, preprocess=PREPROCESS,
        cpu_budget_minutes=150, cpu_epochs=RESTART_CPU_EPOCHS, fallback_lr=None, seeds=(0,),
        start_from="fer2013_restart", selection_rule=SELECTION_RULE),
    ExperimentSpec(
        paper=PAPER, name="ferplus_majority", title="Reference model on FER+ majority labels (eight classes): train on "
                                                    "Training, select on PublicTest, test on PrivateTest",
        dataset="ferplus", protocol="official", model="reference_cnn", training=TRAINING, preprocess=PREPROCESS,
        cpu_budget_minutes=180, cpu_epochs=50, fallback_lr=None, seeds=(0,)),
]

# Issue 50's candidates for the shipped model that the suite trains (`studies.candidates`; their descriptions:
# `studies.out_of_domain.CANDIDATES`), each fixed here before it trained. They are not EXPERIMENTS: none scores a test
# split (PrivateTest holds the out-of-domain benchmark's FER+ report part and the in-domain score, read once after the
# choice). `ferplus_majority` is the experiment's own recipe, the same run; `ferplus_votes` differs from it in its
# targets alone (FER+'s vote distributions); `strong_augment` differs from `fer2013_light_reg` in its augmentation
# alone; `eye_aligned` differs from `fer2013_light_reg` in its preprocessing alone (each face rotated so its eyes are
# level, `data.alignment`, at the settings `studies.alignment_probe` chose on Training images), in training and in
# the recognizer, which applies the sidecar's preprocessing to every crop.
CANDIDATE_RUNS = [
    next(spec for spec in EXPERIMENTS if spec.name == "ferplus_majority"),
    ExperimentSpec(
        paper=PAPER, name="ferplus_votes", title="Reference model on FER+ vote distributions (eight classes): train on "
                                                 "Training, select on PublicTest, no test split scored",
        dataset="ferplus_votes", protocol="official", model="reference_cnn",
        training=replace(TRAINING, targets="distribution"), preprocess=PREPROCESS, cpu_budget_minutes=180,
        cpu_epochs=50, fallback_lr=None, seeds=(0,)),
    ExperimentSpec(
        paper=PAPER, name="strong_augment", title="Reference model, fer2013_light_reg with stronger photometric and "
                                                  "geometric augmentation: train on Training, select on PublicTest, "
                                                  "no test split scored",
        dataset="fer2013", protocol="official", model="reference_cnn", training=STRONG_AUGMENT_TRAINING,
        model_options={"dropout": LIGHT_REG_DROPOUT}, preprocess=PREPROCESS, cpu_budget_minutes=420, cpu_epochs=100,
        fallback_lr=None, seeds=(0,)),
    ExperimentSpec(
        paper=PAPER, name="eye_aligned", title="Reference model, fer2013_light_reg on faces rotated so the eyes are "
                                               "level: train on Training, select on PublicTest, no test split scored",
        dataset="fer2013", protocol="official", model="reference_cnn", training=LIGHT_REG_TRAINING,
        model_options={"dropout": LIGHT_REG_DROPOUT}, preprocess=replace(PREPROCESS, align_eyes=True),
        cpu_budget_minutes=420, cpu_epochs=100, fallback_lr=None, seeds=(0,)),
]

# The candidates issue 50's choice shipped as the default (`studies.candidates.choose` applying
# `studies.out_of_domain.SELECTION_RULE` on held-out data: `reports/<profile>/out_of_domain_candidates/selection.json`;
# on `cpu`, eye_aligned at commit a0d380d). Each becomes an experiment of this paper only here, in the commit before its
# one PrivateTest look, which `fer-lib candidates ship` then takes (resuming its finished run, training nothing) to
# report and ship it. The recipe is the candidate's own, the same run and checkpoint; only its title and the rule
# logged with the look say what happened.
CHOSEN_DEFAULTS = ("eye_aligned",)
CHOSEN_DEFAULT_RULE = ("chosen as the recognizer's default among issue 50's candidates by studies.out_of_domain."
                       "SELECTION_RULE on held-out data only (FER2013 PublicTest, CK+48's selection half of subjects, "
                       "FER+ PublicTest); PrivateTest scored once, after the choice")
EXPERIMENTS += [
    replace(spec, title=spec.title.replace("no test split scored", "tested once on PrivateTest after the "
                                                                   "out-of-domain choice shipped it as the default"),
            selection_rule=CHOSEN_DEFAULT_RULE)
    for spec in CANDIDATE_RUNS if spec.name in CHOSEN_DEFAULTS]
