"""verbose of the primal estimators: the phase that runs, rows done, rate, time left."""

import re

import numpy as np
import pytest
from sklearn.kernel_approximation import Nystroem

from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV


def make_data(n=900):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, X @ rng.normal(size=3) + rng.normal(size=n)


def test_fit_prints_phases_rows_rate_and_time_left(capsys):
    X, y = make_data()
    SelfDistilledRidge(alpha="optimal", n_steps=3, cv=3, block_size=300, verbose=2,
                       feature_map=Nystroem(n_components=10, random_state=0)).fit(X, y)
    out = capsys.readouterr().out
    phases = re.findall(r"^\[SelfDistilledRidge\] (feature map|moments|solve):", out, re.M)
    assert phases[0] == "feature map" and phases[-1] == "solve" and "moments" in phases
    # verbose=2: a line after every block of 300 rows, with the rate and the time left.
    progress = re.findall(r"moments: (\d+) of 900 rows \(\d+%\), [\d,]+ rows/s, .* left", out)
    assert progress == ["300", "600", "900"]
    assert re.search(r"moments: 900 rows in .* s \([\d,]+ rows/s\)", out)
    SelfDistilledRidge(alpha="optimal", n_steps=3, cv=3,
                       feature_map=Nystroem(n_components=10, random_state=0)).fit(X, y)
    assert capsys.readouterr().out == ""


def test_partial_fit_prints_batches_and_the_search_when_read(capsys):
    X, y = make_data()
    model = SelfDistilledRidgeCV(max_steps=2, cv=3, verbose=1)
    model.partial_fit(X[:400], y[:400]).partial_fit(X[400:], y[400:])
    out = capsys.readouterr().out
    assert re.findall(r"partial_fit: (\d+) rows seen", out) == ["400", "900"]
    assert re.findall(r"moments: (\d+) rows in .* \([\d,]+ rows/s\)", out) == ["400", "500"]
    assert "search" not in out  # the search runs when the model is first read
    model.predict(X[:2])
    out = capsys.readouterr().out
    assert re.search(r"search: \d+ candidates[^\n]* from the moments of 900 rows", out)
    SelfDistilledRidgeCV(max_steps=2, cv=3).partial_fit(X, y).predict(X[:2])
    assert capsys.readouterr().out == ""


def test_dask_uses_dask_progress_bar(capsys):
    da = pytest.importorskip("dask.array")
    import dask

    X, y = make_data()
    X, y = da.from_array(X, chunks=300), da.from_array(y, chunks=300)
    with dask.config.set(scheduler="synchronous"):
        SelfDistilledRidge(verbose=1).fit(X, y)
        out = capsys.readouterr().out
        assert "100% Completed" in out  # dask.diagnostics.ProgressBar
        assert re.search(r"moments: 900 rows in .* \([\d,]+ rows/s\)", out)
        SelfDistilledRidge().fit(X, y)
        assert capsys.readouterr().out == ""
