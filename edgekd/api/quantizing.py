"""``quantize``: convert a model and check the .tflite, every mode timed on the host with ``mode="all"``."""

from __future__ import annotations

from pathlib import Path

from edgekd.api.store import opened_store, record_document, say_on_stderr
from edgekd.progress import SILENT, Reporter


def quantize(model: Path | str, *, data: str = "mnist1d", out: Path | str, **options):
    """``edgekd quantize``: convert ``model`` and check the .tflite; returns its ``ModelRecord``.

    ``options`` are ``quantize_run``'s; with ``mode="all"`` use ``quantize_run`` for every
    mode's record.
    """
    run = quantize_run(model, data=data, out=out, **options)
    return next(iter(run.models.values()))


def quantize_run(
    model: Path | str,
    *,
    data: str = "mnist1d",
    out: Path | str,
    force: bool = False,
    db: Path | str | None = None,
    record: bool = True,
    reporter: Reporter = SILENT,
    say=say_on_stderr,
    **settings,
):
    """All of ``edgekd quantize`` as a ``RunResult`` (with ``mode="all"``, one record per mode).

    ``settings`` are those of ``edgekd.quantize.settings.QuantizeSettings`` (``mode``,
    ``max_drop``, ``strict``, ``representative_samples``, ``debug``, ``edgetpu`` …);
    ``io_dtype``, ``per_channel`` and ``allow_float_ops`` go to the conversion options, and
    ``prune``, ``clusters`` and ``compress_epochs`` to the compression before it.
    """
    from edgekd.bench.stage import time_on_host
    from edgekd.quantize.compress import Compression
    from edgekd.quantize.modes import QuantizeOptions
    from edgekd.quantize.stage import ALL, QuantizeSettings, quantize_model, results_sidecar
    from edgekd.results.store import artifact_files

    def take(keys, rename=None):
        return {(rename or {}).get(k, k): settings.pop(k) for k in list(settings) if k in keys}

    options = QuantizeOptions(**take({"io_dtype", "per_channel", "allow_float_ops"}))
    compression = Compression(**take({"prune", "clusters", "compress_epochs"}, {"compress_epochs": "epochs"}))
    quantize_settings = QuantizeSettings(options=options, compression=compression, **settings)
    out = Path(out)
    with opened_store(db, record, say) as store:
        run = quantize_model(
            Path(model), data, out, quantize_settings, force, reporter, lambda files: time_on_host(files, reporter)
        )
        files = (
            artifact_files(out)
            if quantize_settings.mode == ALL
            else {out.name: out, results_sidecar(out).name: results_sidecar(out)}
        )
        record_document(store, run.to_document(), out, files, say)
    return run
