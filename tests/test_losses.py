"""Distillation losses against values computed by hand from the papers' formulas."""

import math

import numpy as np
import pytest

from edgekd.distill.losses import KnowledgeDistillation, loss_names, make_loss
from edgekd.errors import ConfigError


def softmax(values, temperature):
    exps = [math.exp(v / temperature) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def hinton_by_hand(label, student, teacher, temperature, alpha):
    """Hinton et al. 2015: alpha * CE(y, s) + (1 - alpha) * T^2 * KL(p_t^T || p_s^T)."""
    p_student_1 = softmax(student, 1.0)
    hard = -math.log(p_student_1[label])
    p_t, p_s = softmax(teacher, temperature), softmax(student, temperature)
    kl = sum(t * math.log(t / s) for t, s in zip(p_t, p_s, strict=True))
    return alpha * hard + (1 - alpha) * temperature**2 * kl


def kd_value(loss, labels, student, teacher):
    from edgekd.models.frameworks import tensorflow

    tf = tensorflow()
    value = loss.compute_loss(
        tf.constant(labels, tf.int32), tf.constant(student, tf.float32), tf.constant(teacher, tf.float32)
    )
    return value.numpy()


STUDENT = [1.0, 2.0, 0.5]
TEACHER = [2.0, 1.0, 0.1]


def test_kd_matches_hand_computed_value_with_t_squared():
    loss = KnowledgeDistillation(temperature=2.0, alpha=0.5)
    got = kd_value(loss, [1], [STUDENT], [TEACHER])[0]
    expected = hinton_by_hand(1, STUDENT, TEACHER, 2.0, 0.5)
    assert got == pytest.approx(expected, rel=1e-5)
    # The literal value, so a change in the by-hand helper cannot hide a change in the loss.
    assert got == pytest.approx(0.43609, abs=1e-4)


def test_kd_soft_term_scales_with_t_squared():
    soft_only = KnowledgeDistillation(temperature=4.0, alpha=0.0)
    got = kd_value(soft_only, [0], [STUDENT], [TEACHER])[0]
    p_t, p_s = softmax(TEACHER, 4.0), softmax(STUDENT, 4.0)
    kl = sum(t * math.log(t / s) for t, s in zip(p_t, p_s, strict=True))
    assert got == pytest.approx(16.0 * kl, rel=1e-5)


def test_kd_teacher_is_the_target_not_the_student():
    loss = KnowledgeDistillation(temperature=2.0, alpha=0.0)
    forward = kd_value(loss, [0], [STUDENT], [TEACHER])[0]
    swapped_by_hand = 4.0 * sum(
        s * math.log(s / t) for t, s in zip(softmax(TEACHER, 2.0), softmax(STUDENT, 2.0), strict=True)
    )
    assert forward != pytest.approx(swapped_by_hand, rel=1e-3)
    assert forward == pytest.approx(hinton_by_hand(0, STUDENT, TEACHER, 2.0, 0.0), rel=1e-5)


def test_unlabelled_samples_take_the_soft_term_at_full_weight():
    loss = KnowledgeDistillation(temperature=2.0, alpha=0.7)
    got = kd_value(loss, [-1, 1], [STUDENT, STUDENT], [TEACHER, TEACHER])
    assert got[0] == pytest.approx(hinton_by_hand(0, STUDENT, TEACHER, 2.0, 0.0), rel=1e-5)
    assert got[1] == pytest.approx(hinton_by_hand(1, STUDENT, TEACHER, 2.0, 0.7), rel=1e-5)


def test_identical_logits_give_zero_soft_loss():
    loss = KnowledgeDistillation(temperature=3.0, alpha=0.0)
    assert kd_value(loss, [0], [TEACHER], [TEACHER])[0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", loss_names())
def test_every_registered_loss_builds_and_returns_one_finite_value_per_sample(name):
    loss = make_loss(name, num_classes=3)
    values = kd_value(loss, [0, -1, 2], [STUDENT] * 3, [TEACHER] * 3)
    assert values.shape == (3,) and np.all(np.isfinite(values))


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown distillation method 'kdd'; known: kd"):
        make_loss("kdd", num_classes=3)


@pytest.mark.parametrize(
    "params, message",
    [({"temperature": 0.0}, "temperature"), ({"alpha": 1.5}, "alpha"), ({"beta": 1.0}, "unknown parameter")],
)
def test_bad_kd_parameters_fail_before_training(params, message):
    with pytest.raises(ConfigError, match=message):
        make_loss("kd", num_classes=3, **params)
