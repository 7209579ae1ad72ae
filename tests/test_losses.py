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
    with pytest.raises(ConfigError, match=r"unknown distillation method 'kdd'; known: dist, dkd, kd"):
        make_loss("kdd", num_classes=3)


@pytest.mark.parametrize(
    "params, message",
    [({"temperature": 0.0}, "temperature"), ({"alpha": 1.5}, "alpha"), ({"beta": 1.0}, "unknown parameter")],
)
def test_bad_kd_parameters_fail_before_training(params, message):
    with pytest.raises(ConfigError, match=message):
        make_loss("kd", num_classes=3, **params)


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def dkd_by_hand(label, student, teacher, alpha, beta, temperature):
    """Zhao et al. 2022, eq. (3)-(5): CE + (alpha * TCKD + beta * NCKD) * T^2."""
    p_s, p_t = softmax(student, temperature), softmax(teacher, temperature)
    b_s, b_t = [p_s[label], 1 - p_s[label]], [p_t[label], 1 - p_t[label]]
    others = [i for i in range(len(student)) if i != label]
    q_s = softmax([student[i] for i in others], temperature)
    q_t = softmax([teacher[i] for i in others], temperature)
    ce = -math.log(softmax(student, 1.0)[label])
    return ce + (alpha * kl(b_t, b_s) + beta * kl(q_t, q_s)) * temperature**2


STUDENT4 = [1.0, 2.0, 0.5, -1.0]
TEACHER4 = [2.0, 1.0, 0.1, 0.3]


def test_dkd_matches_the_papers_decomposition():
    loss = make_loss("dkd", 4, alpha=1.0, beta=8.0, temperature=4.0)
    got = kd_value(loss, [1], [STUDENT4], [TEACHER4])[0]
    assert got == pytest.approx(dkd_by_hand(1, STUDENT4, TEACHER4, 1.0, 8.0, 4.0), rel=1e-4)


def test_dkd_on_unlabelled_samples_uses_the_teachers_class_without_ce():
    loss = make_loss("dkd", 4, alpha=1.0, beta=2.0, temperature=2.0)
    got = kd_value(loss, [-1], [STUDENT4], [TEACHER4])[0]
    teacher_class = TEACHER4.index(max(TEACHER4))
    ce = -math.log(softmax(STUDENT4, 1.0)[teacher_class])
    assert got == pytest.approx(dkd_by_hand(teacher_class, STUDENT4, TEACHER4, 1.0, 2.0, 2.0) - ce, rel=1e-4)


def test_dkd_refuses_two_classes():
    with pytest.raises(ConfigError, match="at least 3 classes"):
        make_loss("dkd", 2)


def pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))


def test_dist_matches_inter_and_intra_class_pearson_by_hand():
    students, teachers = [STUDENT4, [0.2, -0.4, 1.5, 0.0]], [TEACHER4, [0.0, 0.5, 2.0, -1.0]]
    temperature, beta, gamma = 2.0, 1.0, 2.0
    p_s = [softmax(row, temperature) for row in students]
    p_t = [softmax(row, temperature) for row in teachers]
    inter = [1 - pearson(s, t) for s, t in zip(p_s, p_t, strict=True)]
    columns = range(4)
    intra = sum(1 - pearson([r[c] for r in p_s], [r[c] for r in p_t]) for c in columns) / 4
    expected = [temperature**2 * (beta * i + gamma * intra) for i in inter]
    got = kd_value(make_loss("dist", 4, beta=beta, gamma=gamma, temperature=temperature), [0, 1], students, teachers)
    assert got == pytest.approx(expected, rel=1e-4)
    assert kd_value(make_loss("dist", 4), [0, 1], teachers, teachers) == pytest.approx([0.0, 0.0], abs=1e-5)
