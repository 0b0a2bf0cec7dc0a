"""Every public attribute a fit (or a display) sets is documented, and back.

numpydoc's validation, run by the documentation build, checks parameters and
return values but not the ``Attributes`` section; this checks it against what
the objects actually hold after typical fits, as scikit-learn's own tests do.
"""

import inspect
import math
import re

import matplotlib
import pandas as pd
import pytest
from sklearn.datasets import make_friedman1

from selfdistill_sklearn import (
    SelfDistilledKernelRidge,
    SelfDistilledKernelRidgeCV,
    SelfDistilledRidge,
    SelfDistilledRidgeCV,
)
from selfdistill_sklearn.datasets import make_noisy_sinusoid
from selfdistill_sklearn.plotting import (
    CrossValidationErrorDisplay,
    DistillationPathDisplay,
    ShrinkageDiagonalDisplay,
    ShrinkageRatioDisplay,
)

matplotlib.use("Agg")


def section_names(cls, title):
    """Names listed in a numpydoc section of ``cls``'s docstring."""
    doc = inspect.cleandoc(cls.__doc__)
    match = re.search(rf"^{title}\n-+\n(.*?)(?=^\w[\w ]*\n-+\n|\Z)", doc,
                      flags=re.MULTILINE | re.DOTALL)
    if match is None:
        return set()
    names = set()
    for line in match.group(1).splitlines():
        entry = re.match(r"^(\*{0,2}\w[\w, ]*?)(?: :|$)", line)
        if entry and not line.startswith(" "):
            names.update(name.strip() for name in entry.group(1).split(","))
    return names


def fitted_attributes(estimator):
    """Public attributes ending in ``_``: set by fit, or properties computed
    from the fitted state (those that do not raise)."""
    names = {name for name in vars(estimator) if name.endswith("_") and not name.startswith("_")}
    for name, value in vars(type(estimator)).items():
        if isinstance(value, property) and name.endswith("_") and not name.startswith("_"):
            try:
                getattr(estimator, name)
            except AttributeError:
                continue
            names.add(name)
    return names


X, y = make_friedman1(n_samples=60, random_state=0)
FRAME = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])

ESTIMATORS = [
    (SelfDistilledKernelRidge, [{}, {"alpha": "optimal", "n_steps": 3, "cv": 3},
                                {"alpha": 0.5, "n_steps": math.inf},
                                {"fit_intercept": False}]),
    (SelfDistilledKernelRidgeCV, [{"cv": 3}, {"alphas": [0.5, "optimal"], "cv": 3,
                                              "alpha_cv": 3}]),
    (SelfDistilledRidge, [{}, {"alpha": "optimal", "n_steps": 3, "cv": 3},
                          {"alpha": 0.5, "n_steps": math.inf}]),
    (SelfDistilledRidgeCV, [{"cv": 3}, {"alphas": [0.5, "optimal"], "cv": 3}]),
]


@pytest.mark.parametrize(("cls", "settings"), ESTIMATORS, ids=lambda v: getattr(v, "__name__", ""))
def test_fitted_attributes_are_documented(cls, settings):
    documented = section_names(cls, "Attributes")
    assert documented, f"{cls.__name__} has no Attributes section"
    seen = set()
    for params in settings:
        seen |= fitted_attributes(cls(**params).fit(FRAME, y))
    assert not seen - documented, f"undocumented attributes of {cls.__name__}"
    assert not documented - seen, f"documented but never set by {cls.__name__}"


def test_display_attributes_are_documented():
    Xs, ys = make_noisy_sinusoid(random_state=0)
    model = SelfDistilledKernelRidge(alpha=0.25, n_steps=4, kernel="rbf", gamma=80.0).fit(Xs, ys)
    search = SelfDistilledKernelRidgeCV(kernel="rbf", gamma=80.0, cv=3).fit(Xs, ys)
    displays = [DistillationPathDisplay.from_estimator(model, Xs, ys),
                ShrinkageDiagonalDisplay.from_estimator(model),
                ShrinkageRatioDisplay.from_estimator(model),
                CrossValidationErrorDisplay.from_estimator(search)]
    for display in displays:
        cls = type(display)
        documented = section_names(cls, "Attributes") | section_names(cls, "Parameters")
        held = {name for name in vars(display) if not name.startswith("_")}
        assert held == documented, cls.__name__
    matplotlib.pyplot.close("all")


def test_section_names_reads_numpydoc():
    class Example:
        """Summary.

        Attributes
        ----------
        coef_ : ndarray of shape (n,)
            Text: with a colon.
        a_, b_ : float
            Two at once.

        See Also
        --------
        other : Something.
        """

    assert section_names(Example, "Attributes") == {"coef_", "a_", "b_"}
