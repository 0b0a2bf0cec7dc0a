"""
=========================================================
Choosing lambda, alpha and tau against tuned kernel ridge
=========================================================

:class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV` scores every
``(lambda, alpha, tau)`` of a grid from one decomposition per fold, the way
:class:`~sklearn.linear_model.RidgeCV` scores a grid of penalties. This example
checks that its scores are those of a plain grid search over
:class:`~selfdistill_sklearn.SelfDistilledKernelRidge`, nests it in a search
over the rbf width ``gamma``, and compares the result with kernel ridge
regression tuned over the same wide grid of ``lambda`` and ``gamma`` on the same folds, on
one held-out split of scikit-learn's diabetes data. One split says little:
:ref:`when_it_helps` gives the spread over many.
"""

# %%
# The same scores as a grid search, from one decomposition per fold
# -----------------------------------------------------------------
import time

from sklearn.datasets import load_diabetes
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.preprocessing import StandardScaler

from selfdistill_sklearn import SelfDistilledKernelRidge, SelfDistilledKernelRidgeCV
from selfdistill_sklearn.plotting import CrossValidationErrorDisplay

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
folds = KFold(5, shuffle=True, random_state=0)

reg_lambdas = [0.1, 1.0, 10.0]
alphas = [0.0, 0.5, 1.0]
search = SelfDistilledKernelRidgeCV(reg_lambdas=reg_lambdas, alphas=alphas, max_steps=3,
                                    include_limit=False, kernel="rbf", gamma=0.03, cv=folds)
start = time.perf_counter()
search.fit(X_train, y_train)
fast = time.perf_counter() - start

grid = GridSearchCV(
    SelfDistilledKernelRidge(kernel="rbf", gamma=0.03),
    {"reg_lambda": reg_lambdas, "alpha": alphas, "n_steps": [1, 2, 3]}, cv=folds,
    scoring="neg_mean_squared_error")
start = time.perf_counter()
grid.fit(X_train, y_train)
slow = time.perf_counter() - start

print(f"{len(search.cv_results_['params'])} candidates on 5 folds: "
      f"SelfDistilledKernelRidgeCV {fast:.2f} s, GridSearchCV {slow:.2f} s")
print("same choice:", search.best_params_ == grid.best_params_, search.best_params_)


# %%
# ``cv_results_`` lists the candidates in ``GridSearchCV``'s order, so the
# mean test scores can be compared entry by entry (both are negative mean
# squared errors here).
def by_params(results):
    return {tuple(sorted(p.items())): s
            for p, s in zip(results["params"], results["mean_test_score"], strict=True)}


ours, theirs = by_params(search.cv_results_), by_params(grid.cv_results_)
gap = max(abs(ours[key] - theirs[key]) / abs(theirs[key]) for key in theirs)
print(f"largest relative difference of the mean test scores: {gap:.1e}")

# %%
# The kernel's width, around it: nested cross-validation
# ------------------------------------------------------
# Each ``gamma`` is a whole ``SelfDistilledKernelRidgeCV`` (the outer folds
# choose ``gamma``, the inner ones ``lambda``, ``alpha`` and ``tau``, here
# with the closed-form ``"optimal"`` weight among the candidates), over its
# default penalties ``reg_lambdas="auto"``: 45 on the scale of the kernel
# matrix's eigenvalues, wide enough that the choice is inside (a choice at an
# edge would give a :class:`~selfdistill_sklearn.GridEdgeWarning`). Kernel
# ridge with the same unpenalised intercept is the same search restricted to
# one step: the same penalties, ``gamma`` and folds.
gammas = [0.01, 0.03, 0.1]
distilled = GridSearchCV(
    SelfDistilledKernelRidgeCV(alphas=[*alphas, "optimal"], max_steps=4, kernel="rbf",
                               cv=folds),
    {"gamma": gammas}, cv=folds).fit(X_train, y_train)
ridge = GridSearchCV(
    SelfDistilledKernelRidgeCV(alphas=[1.0], max_steps=1, include_limit=False, kernel="rbf",
                               cv=folds),
    {"gamma": gammas}, cv=folds).fit(X_train, y_train)

for name, model in [("tuned kernel ridge", ridge), ("tuned self-distillation", distilled)]:
    mse = mean_squared_error(y_test, model.predict(X_test))
    print(f"{name:>24}: test MSE {mse:7.1f}, {model.best_params_}")
print("chosen by the inner searches:", ridge.best_estimator_.best_params_,
      distilled.best_estimator_.best_params_)

# %%
# What the folds saw
# ------------------
# The cross-validated error over ``tau`` for every ``lambda`` and ``alpha``, at
# the chosen ``gamma``: whether the steps help on these folds at all.
display = CrossValidationErrorDisplay.from_estimator(distilled)
