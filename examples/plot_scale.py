"""
=====================================================
Many samples: streamed features against a whole Ridge
=====================================================

:class:`~selfdistill_sklearn.SelfDistilledRidge` fits the primal form of the
paper's eq. (1), ``f(x) = phi(x)^T beta``, on the features of any
scikit-learn transformer. One pass over the rows, ``block_size`` at a time,
forms the ``m x m`` statistics ``Phi^T W Phi`` and ``Phi^T W y``; every step,
the limit and ``alpha*`` are then ``m``-dimensional algebra. This example
times a five-step fit against one fit of
``make_pipeline(Nystroem(), Ridge())``, which holds the ``n x m`` features
whole, and against refitting that pipeline five times, on sizes that run in
seconds. It measures the peak memory that numpy allocates during each fit
with ``tracemalloc``. ``benchmarks/scale.py`` in the repository runs the
same comparison up to ten million rows (see :ref:`large_data`).
"""

# %%
# Three ways to run five steps
# ----------------------------
import time
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from selfdistill_sklearn import SelfDistilledRidge

N_COMPONENTS, ALPHA, N_STEPS, REG_LAMBDA = 300, 0.5, 5, 1.0


def nystroem():
    return Nystroem(gamma=0.1, n_components=N_COMPONENTS, random_state=0)


def pipeline(X, y):
    return make_pipeline(nystroem(), Ridge(alpha=REG_LAMBDA)).fit(X, y)


def refit_loop(X, y):
    # Eqs. (3)-(5) literally: each step refits on alpha y + (1 - alpha) y(t-1).
    targets = y
    for _ in range(N_STEPS):
        model = pipeline(X, targets)
        targets = ALPHA * y + (1 - ALPHA) * model.predict(X)
    return model


def distilled(X, y):
    return SelfDistilledRidge(alpha=ALPHA, n_steps=N_STEPS, reg_lambda=REG_LAMBDA,
                              feature_map=nystroem(), block_size=2000).fit(X, y)


def measure(fit, X, y):
    tracemalloc.start()
    start = time.perf_counter()
    model = fit(X, y)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return model, seconds, peak / 1e6


sizes = [2_000, 5_000, 10_000, 20_000]
methods = {"Nystroem + Ridge, one fit": pipeline,
           "Nystroem + Ridge, 5-step refit loop": refit_loop,
           "SelfDistilledRidge, 5 steps": distilled}
results = {name: [] for name in methods}
X_test, y_test = make_friedman1(n_samples=2000, noise=1.0, random_state=1)
for n in sizes:
    X, y = make_friedman1(n_samples=n, noise=1.0, random_state=0)
    for name, fit in methods.items():
        model, seconds, megabytes = measure(fit, X, y)
        mse = np.mean((model.predict(X_test) - y_test) ** 2)
        results[name].append((seconds, megabytes))
        print(f"n = {n:6d}  {name:<36} {seconds:6.2f} s  {megabytes:7.1f} MB  "
              f"test MSE {mse:.3f}")

# %%
# The refit loop and the closed form are the same model: the five-step
# refits of the pipeline and ``SelfDistilledRidge`` predict the same, up to
# rounding (both centre the features for the intercept). With ``lambda = 1``
# already chosen for one fit, four more steps at ``alpha = 0.5`` shrink
# further and raise the test error here: how many steps, and which weight,
# is for cross-validation to say (:class:`~selfdistill_sklearn.SelfDistilledRidgeCV`,
# :ref:`when_it_helps`).
refit, chain = refit_loop(X, y), distilled(X, y)
print("largest difference of the predictions:",
      f"{np.max(np.abs(refit.predict(X_test) - chain.predict(X_test))):.1e}")

# %%
# Time and memory against n
# -------------------------
# The pipeline's memory grows with ``n`` (it holds ``n x m`` features); the
# streamed fit's is set by ``block_size x m`` and ``m x m``.
fig, (ax_time, ax_memory) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for name, values in results.items():
    seconds, megabytes = np.array(values).T
    ax_time.plot(sizes, seconds, marker="o", label=name)
    ax_memory.plot(sizes, megabytes, marker="o", label=name)
ax_time.set(xlabel="n", ylabel="fit time (s)", xscale="log", yscale="log")
ax_memory.set(xlabel="n", ylabel="peak memory allocated during the fit (MB)",
              xscale="log", yscale="log")
for ax in (ax_time, ax_memory):
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes], minor=False)
    ax.minorticks_off()
ax_time.legend(fontsize="small")

# %%
# The same fit on a dask array
# ----------------------------
# With the ``dask`` extra, ``X`` and ``y`` may be dask arrays chunked along the
# rows: each chunk's statistics are computed where it lives (here by dask's
# local threads; on a cluster, by the active ``dask.distributed`` client) and
# only ``m x m`` matrices travel. ``predict`` returns a lazy dask array.
import dask.array as da  # noqa: E402

Xd, yd = da.from_array(X, chunks=(5000, -1)), da.from_array(y, chunks=5000)
lazy = distilled(Xd, yd).predict(da.from_array(X_test, chunks=(1000, -1)))
print(type(lazy).__name__, "- largest difference from the in-memory fit:",
      f"{np.max(np.abs(lazy.compute() - chain.predict(X_test))):.1e}")
