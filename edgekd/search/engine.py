"""The Optuna study: a multi-objective sampler over the space, its trials kept in a relational database.

The study lives in a database (by default ``study.db``, SQLite, in the search's folder), so
an interrupted search resumes where it stopped, and several processes or machines given
the same database URL (``postgresql://user@host/db``) share one study, each sampling
candidates while the database hands out trial numbers. Each worker stops once the study
holds the number of scored trials asked for.

A trial asks for a candidate, costs it (``edgekd.search.cost``) and, within every budget,
scores it on a short distillation; over a budget it is pruned untrained, and a candidate
the study already holds is not trained again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import ConfigError, EdgekdError
from edgekd.inputs import special_file_kind
from edgekd.models.complexity import model_macs
from edgekd.redact import redacted, scrubbed
from edgekd.search.cost import Cost, CostModel
from edgekd.search.space import Candidate, from_params, suggest
from edgekd.search.stopping import dominated_stop

STUDY_FILE = "study.db"
# Which process ran a trial, for the trial table of a study several workers share.
WORKER = f"{socket.gethostname()}:{os.getpid()}"
# A worker that stops beating for this long (killed, its machine gone) has its running trial
# marked failed by the next worker, so a resumed search neither waits on it nor counts it.
HEARTBEAT_S = 30
GRACE_S = 120
# SQLite lets one writer at a time: two workers wait this long for each other instead of failing.
SQLITE_TIMEOUT_S = 60
# Workers that start together race to create the study's tables: on SQLite they take turns
# (`_one_opener_at_a_time`); on a server the loser opens what the winner made.
OPEN_ATTEMPTS = 5
# Over-budget trials do not count towards the total, but a search whose budgets leave fewer
# candidates than it asks to score stops after this many times the total in all.
OVER_BUDGET_FACTOR = 10
GC_AFTER_TRIAL = False
# Random candidates before the sampler models the front: a third of a 20-trial search.
STARTUP_TRIALS = 7

# A trial's status, as the trial table shows it.
TRAINED = "trained"
STOPPED = "stopped early"
OVER_BUDGET = "over budget"
LARGER_THAN_TEACHER = "larger than the teacher"
FAILED = "failed"
REPEAT = "repeat"
DIRECTIONS = ("maximize", "minimize", "minimize")
# A trial enqueued with this user attribute (a builder spec) trains that candidate, which the
# space's grid cannot hold (the exact auto student); its parameters hold the grid point just
# below it, which is what the sampler models.
OFF_GRID = "off_grid_candidate"


# PostgreSQL URLs as users write them; SQLAlchemy would pick psycopg2 for them, edgekd declares psycopg 3
# (`pip install 'edgekd[postgres]'`: maintained, with binary wheels).
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
POSTGRES_DRIVER_SCHEME = "postgresql+psycopg://"


def storage_url(out: Path, storage: str | None) -> str:
    """The study's database: ``storage`` as given (an RDB URL), or ``study.db`` in ``out``.

    ``postgresql://`` (or ``postgres://``) URLs go through psycopg 3; a URL naming its own
    driver (``postgresql+psycopg2://``) is kept.
    """
    if storage is None:
        return f"sqlite:///{(Path(out) / STUDY_FILE).resolve()}"
    scheme = next((s for s in _POSTGRES_SCHEMES if storage.startswith(s)), None)
    if scheme is None:
        return storage
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        raise ConfigError(
            f"`storage` {redacted(storage)} is a PostgreSQL database, whose driver is not installed; "
            "pip install 'edgekd[postgres]'"
        )
    return POSTGRES_DRIVER_SCHEME + storage[len(scheme) :]


def shown_url(url: str) -> str:
    """``url`` as the user wrote it (``postgresql://``, not the driver edgekd chose), its password hidden."""
    if url.startswith(POSTGRES_DRIVER_SCHEME):
        url = _POSTGRES_SCHEMES[0] + url[len(POSTGRES_DRIVER_SCHEME) :]
    return redacted(url)


def _optuna():
    import optuna

    # Each trial says what happened to it (`say`); Optuna would repeat failures with their tracebacks.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # The heartbeat is marked experimental; its warning would reach the user on every run.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


@contextlib.contextmanager
def _one_opener_at_a_time(url: str) -> Iterator[None]:
    """Hold an exclusive lock on a SQLite study's file while its tables and study are created.

    Optuna creates the tables with CREATE TABLE and then stamps the schema version, in separate
    transactions, so two workers opening a new file together saw "table studies already exists"
    (one failed). The lock is flock(2) on the database file itself: SQLite locks with fcntl(2),
    which on Linux is independent of flock, so the lock never blocks SQLite's own readers and
    writers, and no extra file is left beside the study.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on the retries alone
        fcntl = None
    database = _sqlite_file(url)
    if fcntl is None or not database or not Path(database).parent.is_dir():
        yield
        return
    # An empty file is a valid, empty SQLite database, so creating it here changes nothing. O_NONBLOCK:
    # a named pipe put there since the check fails to open (ENXIO) instead of waiting for a reader.
    descriptor = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o644)
    with os.fdopen(descriptor, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _created_by_another_worker(exc: Exception) -> bool:
    import sqlalchemy.exc

    return isinstance(exc, sqlalchemy.exc.IntegrityError) or "already exists" in str(exc)


def _unopenable(url: str, problem: str, given: bool) -> ConfigError:
    problem = scrubbed(" ".join(problem.split()), url)[:200]
    if not given:  # the search's own study.db in its folder: the user named no database
        return ConfigError(
            f"cannot open the search's study database {_sqlite_file(url) or shown_url(url)} (in `out`): {problem}; "
            "move that file away, or choose another `out`"
        )
    return ConfigError(
        f"cannot open the study database `storage` {shown_url(url)}: {problem}; "
        "give a database URL such as sqlite:///search.db or postgresql://user@host/db"
    )


# The settings key holding what the data and the teacher contain: a study continues only on the same.
FINGERPRINTS = "fingerprints"


def _sqlite_file(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database if url.startswith("sqlite") else None
    except Exception:  # noqa: BLE001 - a malformed URL is reported by the storage itself
        return None
    return database if database and database != ":memory:" and not database.startswith("file:") else None


def open_study(url: str, name: str, settings: dict, seed: int, given: bool = True):
    """Create or load the study ``name`` at ``url``; refuse one made for other settings (budgets, device, data …).

    ``given``: the user named ``url`` (``storage``); otherwise it is the search's own study.db.
    """
    optuna = _optuna()
    import sqlalchemy.exc

    database = _sqlite_file(url)
    special = special_file_kind(database) if database else None
    if special is not None:
        # Opening a named pipe to lock it would wait for a writer forever.
        raise _unopenable(url, f"{database} is {special}, not a regular file", given)
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {}
    for attempt in range(OPEN_ATTEMPTS):
        try:
            with _one_opener_at_a_time(url):
                storage = optuna.storages.RDBStorage(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
                )
                # Each worker samples from its own stream (seeded by the search's seed and its process), so
                # workers sharing a study try different candidates.
                sampler = optuna.samplers.TPESampler(
                    n_startup_trials=STARTUP_TRIALS, seed=(seed * 1_000_003 + os.getpid()) % 2**32, constant_liar=True
                )
                study = optuna.create_study(
                    storage=storage, study_name=name, directions=list(DIRECTIONS), sampler=sampler, load_if_exists=True
                )
            break
        except sqlalchemy.exc.SQLAlchemyError as exc:
            # Another worker created the same tables or study a moment before: open what it made.
            if not _created_by_another_worker(exc) or attempt == OPEN_ATTEMPTS - 1:
                raise _unopenable(url, str(exc), given) from None
            time.sleep(0.5 * (attempt + 1))
        except (ImportError, ValueError, OSError) as exc:
            raise _unopenable(url, str(exc), given) from None
    stored = study.user_attrs.get("settings")
    if (
        isinstance(stored, dict)
        and FINGERPRINTS not in stored
        and {**stored, FINGERPRINTS: None}
        == {
            **settings,
            FINGERPRINTS: None,
        }
    ):
        stored = None  # a study from before fingerprints: the same settings; its data and teacher are taken as read
    if stored is None:
        study.set_user_attr("settings", settings)
    elif not isinstance(stored, dict):
        raise ConfigError(
            f"the study {name!r} in {shown_url(url)} holds no readable settings; give another `out` (or `study_name`)"
        )
    elif stored != settings:
        changed = sorted(key for key in {*stored, *settings} if stored.get(key) != settings.get(key))
        raise ConfigError(
            f"the study {name!r} in {shown_url(url)} was made for other settings ({', '.join(changed)} differ); "
            "resume it with the same settings, or give another `out` (or `study_name`)"
        )
    return study


def counted_trials(study) -> int:
    """Trials that count towards the search's total: trained (or repeats of trained ones), or failed for a reason
    of their own.

    A candidate over budget costs a few milliseconds to a few seconds and trains nothing, so
    it does not count: ``trials`` is how many candidates were scored. A trial interrupted
    mid-way (Ctrl-C, a killed worker) does not count either: the search tries another.
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    return sum(1 for t in trials if t.state is TrialState.COMPLETE or t.user_attrs.get("status") == FAILED)


def finished_trials(study) -> int:
    """Every finished trial, over-budget ones included."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)))


@dataclass(frozen=True)
class Score:
    """A candidate's accuracy on the validation split after training on a budget."""

    val_accuracy: float
    val_loss: float
    steps: int
    seconds: float
    # The validation accuracy at the training's first checkpoint (half a trial's short budget): what a later
    # trial is compared with at the same point (``dominated_stop``).
    first_val_accuracy: float | None = None
    # Why the training stopped before its budget ended, or None.
    stopped: str | None = None


class TrialRunner:
    """The study's objective: (validation accuracy, speed figure, memory figure) of the candidate a trial asks for."""

    def __init__(
        self,
        families: tuple[str, ...],
        build: Callable[[Candidate], object],
        costs: CostModel,
        budgets: dict[str, float],
        score: Callable[[object, str, Callable | None], Score],
        say: Callable[[str], None],
        teacher_macs: int | None = None,
    ):
        self.families, self.build, self.costs, self.budgets = families, build, costs, budgets
        self.score, self.say = score, say
        # A candidate with at least the teacher's MACs is no student of it: pruned untrained, not counted.
        self.teacher_macs = teacher_macs

    def __call__(self, trial):
        optuna = _optuna()
        candidate = suggest(trial, self.families)
        if trial.user_attrs.get(OFF_GRID):
            candidate = Candidate.parse(trial.user_attrs[OFF_GRID])
        trial.set_user_attr("candidate", candidate.spec)
        trial.set_user_attr("worker", WORKER)
        earlier = _earlier(trial.study, candidate.spec, trial.number)
        try:
            if earlier is not None and earlier.state.name == "COMPLETE":
                for key in ("cost", "val_accuracy", "val_loss", "steps", "seconds"):
                    trial.set_user_attr(key, earlier.user_attrs.get(key))
                trial.set_user_attr("status", REPEAT)
                trial.set_user_attr("reason", f"the same candidate as trial {earlier.number}: its score is reused")
                return tuple(earlier.values)
            model = self.build(candidate)
            if self.teacher_macs and model_macs(model) >= self.teacher_macs:
                reason = f"{model_macs(model):,} MACs, not fewer than the teacher's {self.teacher_macs:,}"
                trial.set_user_attr("status", LARGER_THAN_TEACHER)
                trial.set_user_attr("reason", reason)
                self.say(f"trial {trial.number} {candidate.spec}: larger than the teacher, not trained ({reason})")
                raise optuna.TrialPruned()
            if earlier is not None and "cost" in earlier.user_attrs:
                cost = Cost.from_dict(earlier.user_attrs["cost"])
            else:
                cost = self.costs.cost(model, candidate.spec, self.budgets)
            trial.set_user_attr("cost", cost.as_dict())
            over = cost.over(self.budgets)
            if over:
                trial.set_user_attr("status", OVER_BUDGET)
                trial.set_user_attr("reason", "; ".join(over))
                self.say(f"trial {trial.number} {candidate.spec}: over budget, not trained ({'; '.join(over)})")
                raise optuna.TrialPruned()
            rule = dominated_stop(trial.study, cost, (self.costs.speed_key, self.costs.memory_key), trial.number)
            score = self.score(model, f"trial {trial.number} {candidate.spec}", rule)
        except EdgekdError as exc:
            trial.set_user_attr("status", FAILED)
            trial.set_user_attr("reason", " ".join(str(exc).split())[:500])
            self.say(f"trial {trial.number} {candidate.spec}: failed: {exc}")
            raise
        for key, value in vars(score).items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("status", STOPPED if score.stopped else TRAINED)
        if score.stopped:
            trial.set_user_attr("reason", score.stopped)
        self.say(
            f"trial {trial.number} {candidate.spec}: {score.val_accuracy:.2%} on validation after {score.steps} steps"
            + (f" ({score.stopped})" if score.stopped else "")
        )
        return score.val_accuracy, cost.value(self.costs.speed_key), cost.value(self.costs.memory_key)


def trial_candidate(trial) -> Candidate:
    """The candidate a finished trial trained: the one it recorded (off the grid, for the auto start), else its params."""
    spec = trial.user_attrs.get("candidate")
    return Candidate.parse(spec) if spec else from_params(trial.params)


def _earlier(study, spec: str, number: int):
    """The study's earlier finished trial of the same candidate (trained first), or None."""
    from optuna.trial import TrialState

    same = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if t.user_attrs.get("candidate") == spec and t.number != number
    ]
    same.sort(key=lambda t: (t.state is not TrialState.COMPLETE, t.number))
    return same[0] if same else None


def run_trials(study, runner: TrialRunner, trials: int) -> bool:
    """Run trials until the study holds ``trials`` counted ones (other workers' included).

    Returns False when it stopped first because ``OVER_BUDGET_FACTOR`` times as many trials
    finished in all: the budgets leave too few candidates to score that many.
    """
    limit = trials * OVER_BUDGET_FACTOR

    def enough(study, _trial) -> None:
        if counted_trials(study) >= trials or finished_trials(study) >= limit:
            study.stop()

    if counted_trials(study) >= trials:
        return True
    if finished_trials(study) < limit:
        # Optuna fails a running trial whose worker stopped beating (see HEARTBEAT_S) before each new trial.
        # No full garbage collection after each trial (Optuna's gc_after_trial): it walks every live
        # object, and a process holding TensorFlow's took 0.3 s per trial in a fresh search and 2.6 s
        # in a long-lived one (81 of a search's 198 s); Python's own collector frees the trials' models.
        study.optimize(runner, catch=(EdgekdError,), callbacks=[enough], gc_after_trial=GC_AFTER_TRIAL)
    return counted_trials(study) >= trials
