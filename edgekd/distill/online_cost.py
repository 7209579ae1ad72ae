"""What an augmenting candidate costs: auto leaves its defaults that run the teacher online out when it is too much.

A candidate that augments its inputs runs the teacher in every training step, on the view
the student sees; the others read the teacher's outputs, computed once. With a teacher far
larger than its student the online ones dominate auto's cost: a keras.applications ResNet50
teacher on 32×32 photo patches made its two augmenting candidates take 96 s and 157 s against
a few seconds for each cached one. Before the candidates train, the scratch control has
measured the student's training step and the teacher's forward pass is timed on one batch, as
many passes to a compiled call as the training steps run (a lone call of a small teacher is
mostly dispatch: timed that way, MNIST-1D's teacher sat at the limit and the decision flipped
from one run to the next); a step of an augmenting candidate costs about their sum. Where that is more than
``ONLINE_COST_LIMIT`` times the student's step, auto's default augmenting candidates are left
out, and the run says so; candidates the user names are always tried. The rule is off where
a timing must not decide what trains (``--deterministic``), and where every candidate runs the
teacher online anyway (its outputs past the cache budget); a resumed run reads the decision
its first attempt made (``edgekd.distill.checkpoints.CheckpointFolder.decision``).
"""

from __future__ import annotations

import statistics
import time

from edgekd.data.samples import Inputs
from edgekd.frameworks import tensorflow

# An augmenting candidate may cost up to this many times a cached one's steps.
ONLINE_COST_LIMIT = 3.0
# Timed calls of the teacher's compiled forward pass (after one that traces it); the median counts.
TIMED_CALLS = 3


def teacher_batch_seconds(teachers: list, x: Inputs, batch_size: int, passes_per_call: int = 1) -> float:
    """Seconds for every teacher's forward pass on one training batch of ``x``, run as in the training steps.

    The training step compiles ``passes_per_call`` steps into one call, so the teacher's passes
    run that many to a call here too and the time is per pass: a small teacher's single call
    is mostly dispatch (MNIST-1D's 340 K MAC teacher: 2.7 ms a call alone, 0.7 ms a pass at 15
    to a call), which the student's measured step does not pay once per step either.
    """
    tf = tensorflow()
    batch = tf.constant(x[: min(batch_size, len(x))])
    passes = max(1, int(passes_per_call))
    total = 0.0
    for teacher in teachers:

        def one_pass(inputs, model=teacher):
            return tf.add_n(
                [tf.reduce_sum(tf.cast(o, tf.float32)) for o in tf.nest.flatten(model(inputs, training=False))]
            )

        def body(index, sum_so_far, inputs=batch):
            # Inputs that change with the pass, so no pass is hoisted out of the loop as invariant.
            varied = inputs if not inputs.dtype.is_floating else inputs * (1 + tf.cast(index, inputs.dtype) * 1e-7)
            return index + 1, sum_so_far + one_pass(varied)

        # One number out, read back: on an accelerator the call returns before the work is done.
        forward = tf.function(
            lambda: tf.while_loop(lambda index, _: index < passes, body, (tf.constant(0), tf.constant(0.0)))[1]
        )
        forward().numpy()
        times = []
        for _ in range(TIMED_CALLS):
            started = time.perf_counter()
            forward().numpy()
            times.append(time.perf_counter() - started)
        total += statistics.median(times) / passes
    return total


def online_too_costly(student_step_s: float, teacher_batch_s: float, limit: float = ONLINE_COST_LIMIT) -> str | None:
    """Why an augmenting candidate would cost too much (its step against the student's), or None."""
    if student_step_s <= 0:
        return None
    ratio = (student_step_s + teacher_batch_s) / student_step_s
    if ratio <= limit:
        return None
    return (
        f"auto leaves out its candidates that augment: they run the teacher in every step, {teacher_batch_s * 1e3:.1f} "
        f"ms a batch against {student_step_s * 1e3:.1f} ms for the student's whole step, so each would cost "
        f"{ratio:.1f}x a candidate that reads the teacher's outputs once (more than {limit:g}x); name them in "
        "`distill.candidates` to try them"
    )
