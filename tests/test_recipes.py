"""Recipes and ``--method auto``: the grammar, the candidates tried on validation, and the model a run ships."""

from __future__ import annotations

import pytest

from edgekd.distill.losses import make_objective
from edgekd.distill.recipes import DEFAULT_CANDIDATES, parse_candidates, parse_recipe
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
    from edgekd.models.builders import get_builder
    from edgekd.models.evaluate import accuracy
    from edgekd.models.frameworks import seed_everything

    seed_everything(0)
    useless_teacher = get_builder("cnn").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    candidates = parse_candidates(["kd:temperature=1,alpha=0", "dist", "control"], tiny_dataset.num_classes)
    outcome = distill(
        useless_teacher,
        student,
        tiny_dataset,
        None,
        DistillationSettings(epochs=6, batch_size=64, learning_rate=3e-3, seed=0),
        candidates=candidates,
        selection_fraction=0.5,
    )
    assert [score.recipe for score in outcome.candidates] == ["kd:temperature=1,alpha=0", "dist", "control"]
    control_score = outcome.candidates[-1]
    assert control_score.val_accuracy > max(score.val_accuracy for score in outcome.candidates[:-1])
    assert outcome.recipe.spec in ("kd:temperature=1,alpha=0", "dist"), "auto picks a recipe that distils"
    assert outcome.candidates[0].steps == pytest.approx(outcome.kd_history.steps / 2, abs=10), "half the budget"
    assert outcome.shipped.role == "student_scratch"
    assert "distillation does not help this pair" in outcome.shipped.reason
    shipped = accuracy(outcome.student_scratch, tiny_dataset.x_test, tiny_dataset.y_test)
    distilled = accuracy(outcome.student_kd, tiny_dataset.x_test, tiny_dataset.y_test)
    # The control learned (MNIST-1D: 10 classes) and the distilled student did not come close.
    assert shipped > 0.3 and shipped > distilled + 0.05


@pytest.mark.parametrize("method", ["kd", "dkd", "dist", "fitnet", "at", "rkd"])
def test_make_loss_and_make_objective_build_the_same_loss(method):
    from edgekd.distill.losses import make_loss

    objective = make_objective(method, 10)
    assert objective.terms[-1][1] == make_loss(method, 10)


def test_the_control_ships_only_when_it_wins_beyond_noise():
    import numpy as np

    from edgekd.distill.distiller import choose_shipped

    both = np.ones(100, bool)
    # One sample the control gets right and the distilled student does not: noise, not a verdict.
    kd = both.copy()
    kd[0] = False
    within = choose_shipped(kd, both)
    assert within.role == "student_kd" and "within noise" in within.reason and "100-sample validation" in within.reason
    # Twelve such samples and four the other way: 8 > sqrt(16) = 4, the control is better.
    kd, control = both.copy(), both.copy()
    kd[:12], control[12:16] = False, False
    beaten = choose_shipped(kd, control)
    assert beaten.role == "student_scratch" and "the control is better by 8 samples" in beaten.reason
    assert choose_shipped(control, kd).role == "student_kd"
    assert choose_shipped(kd, None).role == "student_kd"


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
