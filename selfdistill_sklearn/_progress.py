"""Progress lines of the primal estimators: the phase that runs, rows done, rate, time left.

A fit runs three phases: the feature map is fitted (``feature map``), one
pass forms the moments of the rows (``moments``), and the ``m x m`` algebra
solves or searches (``solve``, ``search``). With ``verbose > 0`` each phase
prints a line as it starts and as it ends, with its time; during the pass
over in-memory rows a line gives the rows done, the rate and the time left,
at most every :data:`INTERVAL` seconds (after every block with ``verbose >
1``). On dask, dask's own progress bar reports the pass:
:class:`dask.diagnostics.ProgressBar` on dask's local schedulers,
:func:`distributed.progress` with a ``dask.distributed`` client. Lines are
printed to standard output, as scikit-learn's ``verbose`` does; nothing is
printed with ``verbose=0``.
"""

import contextlib
import sys
import threading
import time

__all__ = ["INTERVAL", "Progress", "compute"]

#: Seconds between two progress lines of a pass (``verbose=1``).
INTERVAL = 2.0


def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d} min"


class Progress:
    """Progress lines of one estimator's fit.

    Parameters
    ----------
    owner : str
        The estimator's name, at the start of every line.
    verbose : int
        ``0`` prints nothing; ``1`` phases and a pass's progress every
        :data:`INTERVAL` seconds; ``2`` and more after every block.
    """

    def __init__(self, owner, verbose):
        self.owner = owner
        self.verbose = int(verbose or 0)

    @property
    def quiet(self):
        return self.verbose <= 0

    def say(self, message):
        if not self.quiet:
            print(f"[{self.owner}] {message}", flush=True)

    @contextlib.contextmanager
    def phase(self, name, detail):
        """Lines at the start and the end of phase ``name``."""
        self.say(f"{name}: {detail}")
        start = time.perf_counter()
        yield
        self.say(f"{name}: done in {_duration(time.perf_counter() - start)}")

    def rows(self, total, what="rows"):
        """A :class:`RowCounter` of a pass over ``total`` rows (``None``:
        unknown, as for a stream)."""
        return RowCounter(self, total, what)


class RowCounter:
    """Rows done in a pass, reported by :meth:`update` and :meth:`close`."""

    def __init__(self, progress, total, what):
        self._progress = progress
        self._total = total
        self._what = what
        self._start = time.perf_counter()
        self._last = self._start
        self._done = 0
        self._lock = threading.Lock()

    def add(self, rows):
        """Count ``rows`` more rows done (from any thread) and report."""
        with self._lock:
            self._done += rows
            done = self._done
        self.update(done)

    def update(self, done):
        """Report ``done`` rows of the pass (throttled)."""
        if self._progress.quiet:
            return
        now = time.perf_counter()
        if self._progress.verbose < 2 and now - self._last < INTERVAL:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        line = f"moments: {done} of {self._total} {self._what}" if self._total else \
            f"moments: {done} {self._what}"
        if self._total:
            left = (self._total - done) / rate if rate > 0 else float("inf")
            line += f" ({100 * done / self._total:.0f}%), {rate:,.0f} rows/s, " \
                    f"{_duration(left)} left"
        else:
            line += f", {rate:,.0f} rows/s"
        self._progress.say(line)

    def close(self, done):
        """The closing line: rows, time and rate of the whole pass."""
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        self._progress.say(f"moments: {done} {self._what} in {_duration(elapsed)} "
                           f"({done / elapsed:,.0f} rows/s)")


def _client():
    """The active ``dask.distributed`` client, if any (without importing it)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def compute(collection, progress):
    """``dask.compute(collection)[0]``, with dask's progress bar when
    ``progress`` is not quiet."""
    import dask

    if progress is None or progress.quiet:
        return dask.compute(collection)[0]
    client = _client()
    if client is not None:
        from distributed import progress as distributed_progress

        future = client.compute(collection)
        distributed_progress(future)  # blocks in a console, a widget in a notebook
        return future.result()
    from dask.diagnostics import ProgressBar

    with ProgressBar(out=sys.stdout):
        return dask.compute(collection)[0]
