"""The batches training reads: shuffled, repeated and resumable, from arrays, streams or memory-mapped files.

A resumed run skips the batches it already trained on; augmentation draws depend on the run's
seed and the step alone, so a resumed run sees the batches an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np

from edgekd.data.samples import Inputs, bounded, decode_parallelism, element_loader, is_stream
from edgekd.distill.augment import augment
from edgekd.frameworks import tensorflow


def training_batches(x: Inputs, targets, batch_size: int, seed: int, skip: int):
    """The shuffled, repeated stream of batches ``fit`` trains on; a resumed run skips the ones already trained on.

    Arrays are sliced in memory; streams and memory-mapped targets are read by position
    (the same batches, see ``_streamed_batches``).
    """
    tf = tensorflow()
    parts = named_parts(x, targets)
    if any(is_stream(value) or isinstance(value, np.memmap) for value in parts.values()):
        return _streamed_batches(parts, isinstance(targets, dict), batch_size, seed, skip)
    return bounded(
        tf.data.Dataset.from_tensor_slices((x, targets))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size)
        .skip(skip)
    )


def augmented(batches, augmentations: tuple, seed: int, first_step: int):
    """Each batch augmented with the draws of its step (the run's seed and the step number alone)."""
    tf = tensorflow()

    def apply(step, batch):
        x, labels = batch
        return augment(x, labels, augmentations, tf.stack([tf.constant(seed, tf.int64), step]))

    return batches.enumerate(start=first_step).map(apply)


_INPUTS, _LABELS = "__inputs__", "__targets__"


def named_parts(x: Inputs, targets) -> dict:
    return {_INPUTS: x, **(targets if isinstance(targets, dict) else {_LABELS: targets})}


def _streamed_batches(parts: dict, targets_are_dict: bool, batch_size: int, seed: int, skip: int):
    """The same batches as for arrays, built from positions: shuffled identically (same count, same seed).

    Streams decode each sample in parallel (streams over the same files decode it once);
    memory-mapped arrays are gathered a batch at a time, so neither is ever held whole.
    Skipping happens on positions, before anything is decoded.
    """
    tf = tensorflow()
    held = {k: v for k, v in parts.items() if not is_stream(v) and not isinstance(v, np.memmap)}
    streamed = [k for k, v in parts.items() if is_stream(v)]
    mapped = {k: v for k, v in parts.items() if isinstance(v, np.memmap)}
    load = element_loader([parts[k] for k in streamed])
    count = len(parts[_INPUTS])

    def decode(position, values):
        return position, {**values, **dict(zip(streamed, load(position), strict=True))}

    def gather(positions, values):
        for name, array in mapped.items():
            value = tf.numpy_function(lambda p, a=array: np.asarray(a[p], np.float32), [positions], tf.float32)
            value.set_shape((None, *array.shape[1:]))
            values = {**values, name: value}
        return values

    def assemble(values):
        values = dict(values)
        inputs = values.pop(_INPUTS)
        return inputs, values if targets_are_dict else values[_LABELS]

    dataset = (
        tf.data.Dataset.from_tensor_slices((np.arange(count, dtype=np.int64), held))
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .skip(skip * batch_size)
        .map(decode, num_parallel_calls=decode_parallelism(), deterministic=True)
        .batch(batch_size)
    )
    return bounded(dataset.map(gather).map(assemble))
