"""Recipes and ``--method auto``: the grammar, the candidates tried on validation, and the model a run ships."""

from __future__ import annotations

import pytest

from edgekd.distill.losses import make_objective
from edgekd.distill.recipes import DEFAULT_CANDIDATES, WEAK_TEACHER_RECIPE, parse_candidates, parse_recipe
from edgekd.errors import ConfigError


def test_a_recipe_names_a_method_its_parameters_and_augmentations():
    recipe = parse_recipe("kd:temperature=4,alpha=0.5,augment=mixup", 10)
    assert recipe.describe() | {} == {
        "recipe": "kd:temperature=4,alpha=0.5,augment=mixup",
        "method": "kd",
        "temperature": 4.0,
        "alpha": 0.5,
        "augment": ["mixup"],
    }
    assert recipe.needs_online_teacher
    assert parse_recipe("control", 10).is_control
    assert not parse_recipe("dist", 10).needs_online_teacher


@pytest.mark.parametrize(
    "spec, message",
    [
        ("kdd", "unknown distillation method 'kdd'; known: at, dist, dkd, fitnet, kd, rkd"),
        ("kd:temperature", "cannot parse 'temperature' in recipe 'kd:temperature'"),
        ("kd:beta=2", "unknown parameter"),
        ("control:augment=shift", "the control trains on labels alone"),
        ("auto", "auto chooses among recipes"),
        ("kd:augment=blur", "unknown augmentation 'blur'"),
        (":temperature=1", "names no method"),
    ],
)
def test_bad_recipes_are_refused_with_the_reason(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_recipe(spec, 10)


def test_the_candidates_need_a_distillation_recipe_and_no_repeats():
    assert len(parse_candidates(DEFAULT_CANDIDATES, 10)) == len(DEFAULT_CANDIDATES)
    with pytest.raises(ConfigError, match="at least one that distils"):
        parse_candidates(["control"], 10)
    with pytest.raises(ConfigError, match="twice"):
        parse_candidates(["dist", "dist"], 10)


@pytest.mark.parametrize("method", ["rkd", "fitnet", "at"])
def test_a_feature_method_alone_gets_the_logit_term_its_paper_pairs_it_with(method):
    objective = make_objective(method, 10)
    assert [loss.name for _, loss in objective.terms] == ["kd", method]
    assert f"{method} alone trains no logits" in objective.describe()["notes"][0]
    assert make_objective(f"kd+{method}", 10).notes == ()


def test_auto_tries_each_candidate_and_ships_the_control_when_the_teacher_is_useless(tiny_dataset):
    """An untrained teacher teaches nothing: the run must say so and ship the control, not a worse student."""
    from edgekd.distill.distiller import DistillationSettings, distill
    from edgekd.frameworks import seed_everything
    from edgekd.models.builders import get_builder
    from edgekd.models.evaluate import accuracy

    seed_everything(0)
    useless_teacher = get_builder("cnn").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    specs = ["kd:temperature=1,alpha=0", "dist", "kd:temperature=1,alpha=0,augment=mixup", "control"]
    candidates = parse_candidates(specs, tiny_dataset.num_classes)
    outcome = distill(
        useless_teacher,
        student,
        tiny_dataset,
        None,
        DistillationSettings(epochs=6, batch_size=64, learning_rate=3e-3, seed=0),
        candidates=candidates,
        # Any teacher costs more than nothing: the candidate that would run it online is left out, untrained.
        online_cost_limit=1.0,
    )
    assert [score.recipe for score in outcome.candidates] == ["kd:temperature=1,alpha=0", "dist", "control"]
    assert outcome.left_out.startswith("auto leaves out its candidates that augment: they run the teacher")
    control_score = outcome.candidates[-1]
    assert control_score.val_accuracy > max(score.val_accuracy for score in outcome.candidates[:-1])
    assert outcome.recipe.spec in ("kd:temperature=1,alpha=0", "dist"), "auto picks a recipe that distils"
    winner = next(score for score in outcome.candidates if score.recipe == outcome.recipe.spec)
    assert 0 < winner.steps <= outcome.kd_history.trained_steps == outcome.kd_history.steps
    assert outcome.shipped.role == "student_scratch"
    assert not outcome.teacher_check.worth_distilling
    assert "distillation cannot transfer what the teacher does not know" in outcome.shipped.reason
    shipped = accuracy(outcome.student_scratch, tiny_dataset.x_test, tiny_dataset.y_test)
    distilled = accuracy(outcome.student_kd, tiny_dataset.x_test, tiny_dataset.y_test)
    # The control learned (MNIST-1D: 10 classes, chance 10%) and the distilled student did not come close.
    assert shipped > 0.2 and shipped > distilled + 0.05
    # As `edgekd distill` runs auto's own candidates: a weak teacher skips them (one recipe trains instead).
    weak = parse_recipe(WEAK_TEACHER_RECIPE, tiny_dataset.num_classes)
    fresh = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    skipped = distill(
        useless_teacher,
        fresh,
        tiny_dataset,
        None,
        DistillationSettings(epochs=2, batch_size=64, learning_rate=3e-3, seed=0),
        candidates=candidates,
        weak_teacher_recipe=weak,
    )
    assert skipped.candidates == () and skipped.recipe is weak
    assert skipped.shipped.role == "student_scratch"


def test_auto_halves_its_candidates_at_each_rung_keeping_the_best_of_each_kind(tiny_dataset, monkeypatch):
    """Successive halving: all train to the first rung, a third (at least the best of each kind) to the next."""
    from edgekd.distill import selection, training_run
    from edgekd.distill.distiller import DistillationSettings, TrainingRun
    from edgekd.distill.selection import rungs, select_recipe
    from edgekd.frameworks import seed_everything
    from edgekd.models.builders import get_builder
    from edgekd.progress import SILENT

    seed_everything(0)
    # An untrained teacher: learning from its outputs alone (alpha 0) learns nothing, from the labels
    # alone (alpha 1) learns MNIST-1D as the control does.
    useless_teacher = get_builder("cnn").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    settings = DistillationSettings(epochs=6, batch_size=64, learning_rate=3e-3, seed=0, train_control=False)
    run = TrainingRun.prepare([useless_teacher], tiny_dataset, (1.0,), settings)
    # Rungs (and checkpoints) as short as a step: twenty checkpoints of the tiny budget, the first a rung.
    monkeypatch.setattr(selection, "MIN_TRIAL_STEPS", 1)
    monkeypatch.setattr(training_run, "MIN_TRIAL_STEPS", 1)
    assert rungs(run.budget()) == (1, 3) and run.budget().checkpoint_count == 20
    specs = [
        "kd:temperature=1,alpha=1",
        "kd:temperature=1,alpha=0",
        "kd:temperature=4,alpha=0",
        "kd:temperature=1,alpha=0,augment=mixup",
        "control",
    ]
    candidates = parse_candidates(specs, tiny_dataset.num_classes)
    chosen = select_recipe(run, student, candidates, SILENT)
    labels, outputs_only, hot, mixup, control = chosen.scores
    per_checkpoint = run.budget().steps_per_checkpoint
    # Four candidates distil: a third of them is two, the best without augmentation and the one with.
    assert labels.stopped is None and mixup.stopped is None
    assert labels.steps == mixup.steps == 3 * per_checkpoint
    for left in (outputs_only, hot):
        assert left.stopped.startswith("left at checkpoint 1 of 20") and left.steps == per_checkpoint
        assert "kd:temperature=1,alpha=1" in left.stopped and left.val_accuracy < labels.val_accuracy
    # The control trains to the first rung for the table and is never chosen, however good.
    assert control.steps == per_checkpoint and control.stopped is None
    assert chosen.recipe.spec == "kd:temperature=1,alpha=1"
    assert chosen.state.completed == 3 and len(chosen.state.history["val_accuracy"]) == 3


def test_auto_ships_what_the_chosen_recipe_trained_straight_would(tiny_dataset, teacher_file, monkeypatch):
    """The winner goes on from its rungs (weights, Adam's moments, the schedule, the batches): the same student."""
    import numpy as np

    from edgekd.distill import selection
    from edgekd.distill.distiller import DistillationSettings, distill
    from edgekd.models.builders import get_builder
    from edgekd.models.io import load_model

    monkeypatch.setattr(selection, "MIN_TRIAL_STEPS", 1)
    teacher = load_model(teacher_file)
    settings = DistillationSettings(epochs=3, batch_size=64, learning_rate=3e-3, seed=0, train_control=False)
    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    initial = student.get_weights()
    candidates = parse_candidates(["kd:temperature=4,alpha=0.5", "dist", "kd:temperature=1,alpha=0"], 10)
    auto = distill(teacher, student, tiny_dataset, None, settings, candidates=candidates)
    assert all(score.steps < auto.kd_history.steps for score in auto.candidates)
    straight = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    straight.set_weights(initial)
    fixed = distill(teacher, straight, tiny_dataset, parse_recipe(auto.recipe.spec, 10), settings)
    assert auto.kd_history.val_accuracy == pytest.approx(fixed.kd_history.val_accuracy, abs=1e-6)
    for ours, theirs in zip(student.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_a_run_is_compared_at_a_rung_by_its_best_checkpoint_by_then_ties_to_the_lower_loss():
    import math

    from edgekd.distill.watch import UNKNOWN_LOSS, TrainingHistory

    history = TrainingHistory(
        steps=40, steps_per_checkpoint=10, val_accuracy=[0.5, 0.7, 0.7, 0.9], val_loss=[1.0, 0.8, 0.6, 0.3]
    )
    assert history.best_by(3) == (0.7, 0.6) and history.best_by(4) == (0.9, 0.3)
    assert history.best_by(0) == (0.0, math.inf)
    # A checkpoint written before losses were kept: the known ones stay with their checkpoints.
    old = TrainingHistory.from_dict({"steps": 40, "val_accuracy": [0.5, 0.7, 0.7], "val_loss": [0.6]})
    assert old.val_loss == [UNKNOWN_LOSS, UNKNOWN_LOSS, 0.6] and old.best_by(3) == (0.7, 0.6)
    # A run goes on from an exact history: a rounded best (0.986111) would lose to an equal accuracy
    # later (142/144 = 0.98611...) and the run would keep that checkpoint's weights, not the first's.
    history.best_val_accuracy = history.val_accuracy[-1] = 142 / 144
    assert TrainingHistory.from_dict(history.as_dict(exact=True)).best_val_accuracy == 142 / 144
    assert history.as_dict()["best_val_accuracy"] == 0.986111


def test_no_checkpoint_is_shorter_than_a_trial_so_the_first_rung_is_the_first_checkpoint():
    """On the default budget's floor (1,500 steps) twenty checkpoints of 75 put the first rung at 150 steps."""
    from edgekd.distill.selection import rungs
    from edgekd.distill.trainer import TrainingBudget
    from edgekd.distill.training_run import DISTILLATION_CHECKPOINTS, MIN_TRIAL_STEPS, distillation_checkpoints

    def budget(steps: int) -> TrainingBudget:
        return TrainingBudget(steps, checkpoints=distillation_checkpoints(steps))

    floor = budget(1500)
    assert floor.checkpoint_count == 15 and floor.steps_per_checkpoint == MIN_TRIAL_STEPS
    assert [level * floor.steps_per_checkpoint for level in rungs(floor)] == [100, 300]
    # Long budgets keep twenty checkpoints; a test's tiny one too (its rungs span it anyway).
    assert budget(11_070).checkpoint_count == DISTILLATION_CHECKPOINTS and rungs(budget(11_070)) == (1, 3)
    assert budget(150).checkpoint_count == DISTILLATION_CHECKPOINTS
    assert all(budget(steps).steps_per_checkpoint >= MIN_TRIAL_STEPS for steps in (200, 999, 1999, 2000, 5000))


def test_the_kinds_are_compared_only_at_a_later_rung():
    from edgekd.distill.selection import survivors

    recipes = parse_candidates(
        [
            "kd:temperature=1,alpha=0",
            "dist",
            "kd:temperature=4,alpha=0.5",
            "kd:temperature=1,alpha=0,augment=mixup",
            "kd:temperature=4,alpha=0.5,augment=shift",
            "kd:temperature=4,alpha=0",
        ],
        10,
    )
    scores = [(0.60, 1.0), (0.58, 1.0), (0.58, 0.9), (0.40, 1.5), (0.45, 1.4), (0.30, 2.0)]
    going_on = survivors(list(zip(recipes, scores, strict=True)))
    assert [r.spec for r in going_on] == ["kd:temperature=1,alpha=0", "kd:temperature=4,alpha=0.5,augment=shift"]
    # One kind only: a third of them, best first, ties broken by the lower loss.
    plain = list(zip(recipes[:3], scores[:3], strict=True))
    assert [r.spec for r in survivors(plain)] == ["kd:temperature=1,alpha=0"]
    assert [r.spec for r in survivors(plain[1:])] == ["kd:temperature=4,alpha=0.5"]


def test_the_kd_candidates_share_one_compiled_step_and_score_as_if_each_had_its_own(
    tiny_dataset, teacher_file, monkeypatch
):
    """Recipes differing only in kd's temperature and alpha train through one wrapper, retuned and reset between."""
    from edgekd.distill import training_run
    from edgekd.distill.distiller import DistillationSettings, TrainingRun, select_recipe
    from edgekd.models.builders import get_builder
    from edgekd.models.io import load_model
    from edgekd.progress import SILENT

    teacher = load_model(teacher_file)
    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    settings = DistillationSettings(epochs=2, batch_size=64, learning_rate=3e-3, seed=0, train_control=False)
    run = TrainingRun.prepare([teacher], tiny_dataset, (1.0,), settings)
    specs = ["kd:temperature=1,alpha=0", "kd:temperature=4,alpha=0.5", "dist", "kd:temperature=2,alpha=1"]
    candidates = parse_candidates(specs, tiny_dataset.num_classes)
    built = []
    build = training_run.build_wrapper
    monkeypatch.setattr(training_run, "build_wrapper", lambda *a, **k: built.append(a[1].name) or build(*a, **k))
    shared = select_recipe(run, student, candidates, SILENT).scores
    assert built == ["kd", "dist"]  # the second and fourth kd candidates reused the first's step

    # Each candidate with a wrapper (and an optimizer) of its own scores the same.
    train = TrainingRun.train
    monkeypatch.setattr(TrainingRun, "train", lambda self, *a, **k: train(self, *a[:6], **k))
    separate = select_recipe(run, student, candidates, SILENT).scores
    assert len(built) == 2 + sum(1 + (s.steps > min(t.steps for t in shared)) for s in shared)
    assert [(s.val_accuracy, round(s.val_loss, 5), s.steps) for s in shared] == [
        (s.val_accuracy, round(s.val_loss, 5), s.steps) for s in separate
    ]
    assert len({s.val_loss for s in shared}) == len(specs)  # the retuned parameters did change the training


def test_an_augmenting_candidate_is_left_out_when_its_online_teacher_would_cost_more_than_the_limit():
    from edgekd.distill.online_cost import ONLINE_COST_LIMIT, online_too_costly

    # A step of 2 ms for the student; the teacher's forward pass on a batch adds to it.
    assert online_too_costly(0.002, 0.002) is None, "2x a cached candidate is within the limit"
    assert online_too_costly(0.002, 0.002 * (ONLINE_COST_LIMIT - 1)) is None, "exactly the limit"
    reason = online_too_costly(0.002, 0.050)
    assert "50.0 ms a batch against 2.0 ms" in reason and "26.0x" in reason and "`distill.candidates`" in reason
    assert online_too_costly(0.0, 1.0) is None, "no measured step: nothing to compare"


@pytest.mark.parametrize("method", ["kd", "dkd", "dist", "fitnet", "at", "rkd"])
def test_make_loss_and_make_objective_build_the_same_loss(method):
    from edgekd.distill.losses import make_loss

    objective = make_objective(method, 10)
    assert objective.terms[-1][1] == make_loss(method, 10)


def _predictions(correct, loss=0.5):
    import numpy as np

    from edgekd.distill.choice import Predictions

    correct = np.asarray(correct, bool)
    return Predictions(correct, np.zeros(len(correct), int), loss)


def test_the_better_student_on_validation_ships_and_an_exact_tie_goes_to_the_lower_loss():
    import numpy as np

    from edgekd.distill.choice import choose_shipped

    both = np.ones(100, bool)
    # A lead of one sample is a lead, either way: no thumb on the scale for the method.
    control_ahead = both.copy()
    control_ahead[0] = False
    shipped = choose_shipped(_predictions(control_ahead), _predictions(both))
    assert shipped.role == "student_scratch" and "better on validation by 1 samples" in shipped.reason
    assert "within noise" in shipped.reason and "100-sample validation" in shipped.reason
    assert choose_shipped(_predictions(both), _predictions(control_ahead)).role == "student_kd"
    # An exact tie in accuracy (different samples right) goes to the lower validation cross-entropy.
    kd, control = both.copy(), both.copy()
    kd[:3], control[3:6] = False, False
    tie_kd = choose_shipped(_predictions(kd, loss=0.30), _predictions(control, loss=0.31))
    assert tie_kd.role == "student_kd" and "tie on validation accuracy" in tie_kd.reason
    assert choose_shipped(_predictions(kd, loss=0.32), _predictions(control, loss=0.31)).role == "student_scratch"
    assert choose_shipped(_predictions(kd), None).role == "student_kd"


def test_mcnemar_p_value_is_the_exact_binomial_tail():
    import numpy as np

    from edgekd.distill.choice import PairedComparison

    first, second = np.ones(100, bool), np.ones(100, bool)
    first[:4], second[4:16] = False, False  # 12 only the first gets right, 4 only the second
    comparison = PairedComparison.of(first, second)
    assert (comparison.first_only, comparison.second_only, comparison.lead) == (12, 4, 8)
    # By hand: 2 * (C(16,0) + C(16,1) + C(16,2) + C(16,3) + C(16,4)) / 2**16 = 2 * 2517 / 65536.
    assert comparison.p_value == pytest.approx(2 * 2517 / 65536)
    assert comparison.first_clearly_ahead(), "8 samples ahead, more than sqrt(16) = 4"
    assert PairedComparison.of(first, first).p_value == 1.0


def test_a_teacher_not_clearly_better_than_the_control_ships_the_control():
    import numpy as np

    from edgekd.distill.choice import check_teacher, choose_shipped

    control = np.ones(100, bool)
    control[:10] = False
    teacher = control.copy()
    teacher[0] = True  # one sample ahead of the control: not clearly better
    check = check_teacher(_predictions(teacher), _predictions(control))
    assert not check.worth_distilling
    assert "distillation cannot transfer what the teacher does not know" in check.message
    # The distilled student leads on validation, but learned from a teacher no better than the control.
    shipped = choose_shipped(_predictions(np.ones(100, bool)), _predictions(control), check)
    assert shipped.role == "student_scratch" and "not clearly better" in shipped.reason
    strong = control.copy()
    strong[:10] = True
    assert check_teacher(_predictions(strong), _predictions(control)).worth_distilling
    # A control that gets all but one sample right leaves no room to lead it: the check says the split is too easy.
    easy = np.ones(100, bool)
    easy[0] = False
    saturated = check_teacher(_predictions(np.ones(100, bool)), _predictions(easy))
    assert not saturated.worth_distilling and saturated.saturated
    assert "the validation split is too easy" in saturated.message and "DIR/val" in saturated.message


def test_auto_leaves_its_augmenting_candidates_out_when_the_teacher_sees_its_own_view():
    from edgekd.config import PipelineConfig
    from edgekd.distill.stage import recipes_for

    config = PipelineConfig.model_validate({"distill": {"method": "auto"}})
    _, every = recipes_for(config, 10)
    _, own_view = recipes_for(config, 10, teacher_has_own_view=True)
    assert any(r.augmentations for r in every), "the defaults include augmenting candidates"
    assert own_view and not any(r.augmentations for r in own_view)
    assert {r.spec for r in own_view} == {r.spec for r in every if not r.augmentations}
    # Candidates the user names are kept (and checked against the data later).
    named = PipelineConfig.model_validate({"distill": {"method": "auto", "candidates": ["kd:augment=mixup", "dist"]}})
    _, kept = recipes_for(named, 10, teacher_has_own_view=True)
    assert [r.spec for r in kept if not r.is_control][0] == "kd:augment=mixup"


def test_classes_where_the_distilled_student_falls_far_below_the_control_are_flagged():
    import numpy as np

    from edgekd.distill.choice import flagged_classes, per_class_accuracy

    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    kd = np.array([0, 0, 0, 0, 1, 0, 0, 0, 2, 2])  # class 1 at 25%
    control = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2, 2])  # class 0 at 75%
    assert per_class_accuracy(y, kd, 4) == [1.0, 0.25, 1.0, None]
    assert per_class_accuracy(y, control, 4) == [0.75, 1.0, 1.0, None]
    # 75 points below on class 1; class 0 is the control's loss, not the distilled student's; class 3 has no samples.
    assert flagged_classes(per_class_accuracy(y, kd, 4), per_class_accuracy(y, control, 4)) == [1]


def test_the_online_cost_rule_times_only_when_the_others_read_cached_outputs_and_a_resume_reads_its_answer(
    tiny_dataset, tmp_path
):
    """Off where every candidate runs the teacher online anyway; a resumed run decides as its first attempt did."""
    from dataclasses import replace

    from edgekd.distill.checkpoints import CheckpointFolder
    from edgekd.distill.distiller import DistillationSettings, TrainingRun, _costly_online
    from edgekd.distill.trainer import TrainingControl, TrainingHistory
    from edgekd.models.builders import get_builder

    teacher = get_builder("cnn").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    recipes = parse_candidates(["kd:temperature=1,alpha=0", "kd:temperature=1,alpha=0,augment=mixup"], 10)
    # A control whose step took a microsecond: any teacher costs more than 1x that.
    control = TrainingHistory(steps=20, steps_per_checkpoint=10, step_seconds=[1e-5, 1e-5])
    settings = DistillationSettings(epochs=1, batch_size=64, learning_rate=3e-3, seed=0, train_control=False)
    run = TrainingRun.prepare([teacher], tiny_dataset, (1.0,), settings)
    assert "leaves out its candidates that augment" in _costly_online(run, [teacher], student, recipes, control, 1.0)
    online = TrainingRun.prepare([teacher], tiny_dataset, (1.0,), replace(settings, teacher_outputs="online"))
    assert _costly_online(online, [teacher], student, recipes, control, 1.0) is None, "all online: nothing to save"
    # With checkpoints, the first attempt's answer is kept: a resume on a faster machine leaves out the same.
    folder = CheckpointFolder(tmp_path / "checkpoints", {"run": 1})
    folder.open()
    checkpointed = replace(settings, training=TrainingControl(folder))
    first = _costly_online(
        TrainingRun.prepare([teacher], tiny_dataset, (1.0,), checkpointed), [teacher], student, recipes, control, 1.0
    )
    assert first and folder.decision("auto-left-out", lambda: "another answer") == first
    folder.close()
    folder.open(fresh=True)
    assert folder.decision("auto-left-out", lambda: None) is None, "fresh forgets it"
    folder.close()


def test_the_teachers_pass_is_timed_as_many_to_a_call_as_the_training_steps_run(tiny_dataset, monkeypatch):
    """A lone call of a small teacher is mostly dispatch; the decision times the passes as the control's steps ran."""
    import numpy as np

    from edgekd.distill import distiller
    from edgekd.distill.distiller import DistillationSettings, TrainingRun, _costly_online
    from edgekd.distill.online_cost import teacher_batch_seconds
    from edgekd.distill.trainer import TrainingHistory, steps_per_execution
    from edgekd.models.builders import get_builder

    teacher = get_builder("cnn").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    recipes = parse_candidates(["kd:temperature=1,alpha=0", "kd:temperature=1,alpha=0,augment=mixup"], 10)
    settings = DistillationSettings(epochs=1, batch_size=64, learning_rate=3e-3, seed=0, train_control=False)
    run = TrainingRun.prepare([teacher], tiny_dataset, (1.0,), settings)
    timed = []
    monkeypatch.setattr(
        distiller, "teacher_batch_seconds", lambda *args: timed.append(args[-1]) or teacher_batch_seconds(*args)
    )
    control = TrainingHistory(steps=1110, steps_per_checkpoint=555, step_seconds=[1.0, 1.0])
    assert _costly_online(run, [teacher], student, recipes, control, 3.0) is None, "a second a step: the teacher fits"
    assert timed == [steps_per_execution(555)] == [15]
    # Inputs of any dtype run (integer ones are passed on unvaried).
    assert teacher_batch_seconds([teacher], np.asarray(tiny_dataset.x_train), 8, 3) > 0
    integer = get_builder("cnn").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    assert teacher_batch_seconds([integer], np.asarray(tiny_dataset.x_train).astype("int32"), 8, 2) > 0
