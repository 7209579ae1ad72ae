"""Distillation losses against values computed by hand from the papers' formulas."""

import math
import re

import numpy as np
import pytest

from edgekd.distill.losses import DistillationBatch, KnowledgeDistillation, loss_names, make_loss, make_objective
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
    from edgekd.frameworks import tensorflow

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


def batch_for(loss, labels, student, teacher, student_features=None, teacher_features=None, progress=1.0):
    from edgekd.frameworks import tensorflow

    tf = tensorflow()
    as_tensor = lambda v: tf.constant(v, tf.float32)  # noqa: E731
    return DistillationBatch(
        tf.constant(labels, tf.int32),
        as_tensor(student),
        as_tensor(teacher),
        {k: as_tensor(v) for k, v in (student_features or {}).items()},
        {k: as_tensor(v) for k, v in (teacher_features or {}).items()},
        tf.constant(progress, tf.float32),
    )


@pytest.mark.parametrize("name", loss_names())
def test_every_registered_loss_builds_and_returns_one_finite_value_per_sample(name):
    loss = make_loss(name, num_classes=3)
    rng = np.random.default_rng(0)
    # Feature maps of 4 positions; the adapter (fitnet) has already projected the student's.
    student_features = {r.key: rng.normal(size=(3, 4, 2)) for r in loss.feature_requests()}
    teacher_features = {r.key: rng.normal(size=(3, 4, 2)) for r in loss.feature_requests()}
    batch = batch_for(loss, [0, -1, 2], [STUDENT] * 3, [TEACHER] * 3, student_features, teacher_features)
    values = loss.compute(batch).numpy()
    assert values.shape == (3,) and np.all(np.isfinite(values))


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown distillation method 'kdd'; known: at, dist, dkd, fitnet, kd, rkd"):
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


def test_fitnet_is_the_mean_squared_error_of_the_adapted_hint():
    """Romero et al. 2015: || r(v_student) - u_teacher ||^2, here averaged over elements."""
    student = [[[1.0, 2.0], [0.0, -1.0]]]  # one sample, 2 positions x 2 channels (already adapted)
    teacher = [[[0.5, 2.5], [1.0, -1.0]]]
    expected = ((1.0 - 0.5) ** 2 + (2.0 - 2.5) ** 2 + (0.0 - 1.0) ** 2 + 0.0) / 4
    loss = make_loss("fitnet", 3)
    got = loss.compute(batch_for(loss, [0], [STUDENT], [TEACHER], {"fitnet": student}, {"fitnet": teacher}))
    assert got.numpy()[0] == pytest.approx(expected, rel=1e-6)


def test_attention_transfer_matches_the_papers_maps_by_hand():
    """Zagoruyko & Komodakis 2017: Q = mean_c A^2, normalised; beta/2 * mean_j (Q_s - Q_t)^2."""
    student = [[[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]]]  # 2 positions x 3 channels
    teacher = [[[1.0, 1.0], [2.0, 0.0]]]  # 2 positions x 2 channels: channels may differ

    def attention(sample):
        q = [sum(v * v for v in position) / len(position) for position in sample]
        norm = math.sqrt(sum(v * v for v in q))
        return [v / norm for v in q]

    q_s, q_t = attention(student[0]), attention(teacher[0])
    beta = 1000.0
    expected = beta / 2 * sum((a - b) ** 2 for a, b in zip(q_s, q_t, strict=True)) / 2
    loss = make_loss("at", 3, beta=beta)
    got = loss.compute(batch_for(loss, [0], [STUDENT], [TEACHER], {"at": student}, {"at": teacher}))
    assert got.numpy()[0] == pytest.approx(expected, rel=1e-5)


def rkd_by_hand(student, teacher, distance_weight, angle_weight):
    """Park et al. 2019, as the authors' code computes it (smooth L1 averaged over all entries)."""
    n = len(student)

    def dist(a, b):
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))

    def distances(e):
        d = [[dist(e[i], e[j]) for j in range(n)] for i in range(n)]
        positive = [v for row in d for v in row if v > 0]
        mean = sum(positive) / len(positive)
        return [[v / mean for v in row] for row in d]

    def unit(v):
        norm = math.sqrt(sum(x * x for x in v))
        return [x / norm for x in v] if norm > 0 else [0.0 for _ in v]

    def angles(e):
        out = []
        for j in range(n):
            for i in range(n):
                for k in range(n):
                    e_ij = unit([a - b for a, b in zip(e[i], e[j], strict=True)])
                    e_kj = unit([a - b for a, b in zip(e[k], e[j], strict=True)])
                    out.append(sum(a * b for a, b in zip(e_ij, e_kj, strict=True)))
        return out

    def huber(xs, ys):
        total = 0.0
        for x, y in zip(xs, ys, strict=True):
            error = abs(x - y)
            total += 0.5 * error * error if error < 1 else error - 0.5
        return total / len(xs)

    d_s = [v for row in distances(student) for v in row]
    d_t = [v for row in distances(teacher) for v in row]
    return distance_weight * huber(d_s, d_t) + angle_weight * huber(angles(student), angles(teacher))


def test_rkd_matches_distance_and_angle_relations_by_hand():
    student = [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]  # embeddings of different sizes are fine
    teacher = [[0.0, 0.0, 1.0], [3.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    loss = make_loss("rkd", 3, distance=25.0, angle=50.0)
    got = loss.compute(batch_for(loss, [0, 1, 2], [STUDENT] * 3, [TEACHER] * 3, {"rkd": student}, {"rkd": teacher}))
    expected = rkd_by_hand(student, teacher, 25.0, 50.0)
    assert got.numpy() == pytest.approx([expected] * 3, rel=1e-4)
    same = loss.compute(batch_for(loss, [0, 1, 2], [STUDENT] * 3, [TEACHER] * 3, {"rkd": teacher}, {"rkd": teacher}))
    assert same.numpy() == pytest.approx([0.0] * 3, abs=1e-5)
    # Gradients stay finite although every sample's distance to itself is zero.
    from edgekd.frameworks import tensorflow

    tf = tensorflow()
    variable = tf.Variable(student)
    with tf.GradientTape() as tape:
        batch = DistillationBatch(
            tf.constant([0, 1, 2]),
            tf.constant([STUDENT] * 3),
            tf.constant([TEACHER] * 3),
            {"rkd": variable * 1.0},
            {"rkd": tf.constant(teacher, tf.float32)},
        )
        value = tf.reduce_sum(loss.compute(batch))
    assert np.all(np.isfinite(tape.gradient(value, variable).numpy()))
    # Relations ignore scale: a uniformly scaled embedding has the same distances (over their mean) and angles.
    scaled = [[3 * v for v in row] for row in teacher]
    assert loss.compute(
        batch_for(loss, [0, 1, 2], [STUDENT] * 3, [TEACHER] * 3, {"rkd": scaled}, {"rkd": teacher})
    ).numpy() == pytest.approx([0.0] * 3, abs=1e-4)


def test_dkd_warm_up_ramps_the_distillation_terms_linearly():
    loss = make_loss("dkd", 4, alpha=1.0, beta=8.0, temperature=4.0, warmup=0.2)
    ce = -math.log(softmax(STUDENT4, 1.0)[1])
    full = dkd_by_hand(1, STUDENT4, TEACHER4, 1.0, 8.0, 4.0)

    def at(progress):
        return loss.compute(batch_for(loss, [1], [STUDENT4], [TEACHER4], progress=progress)).numpy()[0]

    assert at(0.0) == pytest.approx(ce, rel=1e-5)
    assert at(0.1) == pytest.approx(ce + 0.5 * (full - ce), rel=1e-4)
    assert at(0.2) == pytest.approx(full, rel=1e-4)
    assert at(0.9) == pytest.approx(full, rel=1e-4)


def test_objective_weighs_terms_and_routes_parameters():
    objective = make_objective("kd+dist", 4, {"temperature": 2.0, "dist.weight": 0.25, "kd.alpha": 0.5})
    (kd_weight, kd), (dist_weight, dist) = objective.terms
    assert (kd_weight, kd.temperature, kd.alpha) == (1.0, 2.0, 0.5)
    assert (dist_weight, dist.temperature) == (0.25, 2.0)
    assert objective.describe()["method"] == "kd+dist"
    # kd without parameters takes the measured recipe (T=1, alpha=0), not the paper's T=4.
    alone = make_objective("kd", 4)
    assert alone.describe() == {"method": "kd", "temperature": 1.0, "alpha": 0.0}


@pytest.mark.parametrize(
    "spec, params, message",
    [
        ("kd+", {}, "cannot parse method 'kd+'"),
        ("kd+kd", {}, "names a method twice"),
        ("kd+fitnett", {}, "unknown distillation method 'fitnett'"),
        ("kd", {"fitnet.weight": 1.0}, "is for method 'fitnet', which 'kd' does not use"),
        ("kd+fitnet", {"gamma": 1.0}, "unknown parameter 'gamma' for method 'kd+fitnet'"),
        ("kd+fitnet", {"fitnet.weight": -1.0}, "must not be negative"),
        ("kd", {"temperature": "hot"}, "must be a number"),
        ("dkd", {"warmup": 1.5}, "fraction of the training steps"),
    ],
)
def test_bad_objective_specs_fail_before_training(spec, params, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_objective(spec, 4, params)
