"""The chain against its first network: a step with alpha = 1 is the first fit.

By Theorem 4.1, eq. (7), alpha = 1 weighs the ground truth alone, and the
step is the first fit. A chain whose alpha-hat is clipped to 1 must not
become a series of fresh networks of other seeds, each as good or as bad as
the spread of a single network allows. Wine, a small MLP, two epochs a
network: seconds on the CPU.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.datasets import load_wine  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.networks import MLP  # noqa: E402


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def wine_net(**params):
    return SelfDistilledNeuralNet(MLP, lr=1e-2, max_epochs=2, verbose=0, device="cpu",
                                  **params)


def chain_scores(net):
    table = net.step_scores()
    return table.loc[~table["probe"], "valid_acc"].to_numpy()


@pytest.fixture(scope="module")
def single_network_spread(wine):
    # The run-to-run spread of one network: the same data, five seeds.
    X, X_val, y, y_val = wine
    scores = [chain_scores(wine_net(n_steps=1, random_state=seed).fit(X, y, X_val, y_val))[0]
              for seed in range(5)]
    return float(np.std(scores))


@pytest.mark.parametrize("seed", [0, 1, 4, 5, 6])
def test_the_alpha_hat_chain_ends_within_the_spread_of_its_first_network(
    wine, single_network_spread, seed
):
    X, X_val, y, y_val = wine
    net = wine_net(alpha="optimal", n_steps=4, random_state=seed).fit(X, y, X_val, y_val)
    scores = chain_scores(net)
    assert 0 < single_network_spread < 0.1
    assert scores[-1] >= scores[0] - single_network_spread, (net.alphas_, scores)


def test_a_step_with_alpha_one_is_the_first_network_not_another_seed(wine):
    X, X_val, y, y_val = wine
    # random_state=4: alpha-hat is above 1 at every step, clipped to 1.
    net = wine_net(alpha="optimal", n_steps=4, random_state=4).fit(X, y, X_val, y_val)
    np.testing.assert_array_equal(net.alphas_, [1, 1, 1])
    first = wine_net(n_steps=1, random_state=4).fit(X, y, X_val, y_val)
    np.testing.assert_array_equal(net.predict_proba(X_val), first.predict_proba(X_val))
    table = net.step_scores()
    chain = table[~table["probe"]]
    assert list(chain["reused"]) == [False, True, True, True]
    assert list(chain["epochs"]) == [2, 0, 0, 0]  # reused, not trained
    assert list(table.loc[table["probe"], "epochs"]) == [2, 2, 2]  # alpha-hat needs them
    assert len(set(chain["valid_acc"])) == 1
    # A fixed alpha = 1 is the first network too.
    ones = wine_net(alpha=[1.0, 0.5], n_steps=3, random_state=4).fit(X, y, X_val, y_val)
    assert list(ones.step_scores()["reused"]) == [False, True, False]
    assert ones.step_scores()["valid_acc"].iloc[1] == chain_scores(first)[0]


def test_a_chain_of_reused_steps_is_extended_from_its_checkpoint(wine, tmp_path):
    X, X_val, y, y_val = wine
    short = wine_net(alpha="optimal", n_steps=2, random_state=4, checkpoint_dir=tmp_path)
    short.fit(X, y, X_val, y_val)
    assert list(short.step_scores()["reused"]) == [False, False, True]
    extended = wine_net(alpha="optimal", n_steps=4, random_state=4, checkpoint_dir=tmp_path)
    extended.fit(X, y, X_val, y_val)
    fresh = wine_net(alpha="optimal", n_steps=4, random_state=4).fit(X, y, X_val, y_val)
    np.testing.assert_array_equal(extended.predict_proba(X_val), fresh.predict_proba(X_val))
    assert extended.step_scores().equals(fresh.step_scores().assign(
        fit_time=extended.step_scores()["fit_time"]))


def test_pickled_state_holds_no_tensor_outside_skorchs_device_mapped_attributes():
    """skorch maps the tensors of its cuda-dependent attributes to the CPU on
    load; any other tensor in the pickle keeps its CUDA location and cannot be
    loaded without a GPU (found by benchmarks/gpu_check.py on an H200)."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    from selfdistill_sklearn import SelfDistilledNeuralNet
    from selfdistill_sklearn.networks import SmallCNN

    X, y = load_digits(return_X_y=True)
    X = (X[:200] / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    net = SelfDistilledNeuralNet(SmallCNN, alpha=0.5, n_steps=2, max_epochs=1, lr=1e-2,
                                 verbose=0, random_state=0).fit(X, y[:200])
    found = []

    def walk(value, path, seen):
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, (torch.Tensor, torch.nn.Module)):
            found.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}[{key!r}]", seen)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]", seen)
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            for key, item in vars(value).items():
                walk(item, f"{path}.{key}", seen)

    for key, value in net.__getstate__().items():
        if key != "__cuda_dependent_attributes__":
            walk(value, key, set())
    assert not found, found


def brier(net, X, y):
    return float(np.sum((np.eye(3)[y] - net.predict_proba(X)) ** 2))


@pytest.mark.parametrize("seed", [2, 3, 5])
def test_the_default_chain_never_validates_worse_than_its_first_network(wine, seed):
    # The default weight is alpha-hat (Algorithm 1), and a step keeps its
    # network only if it validates better than the first (by one standard
    # error of the squared error alpha-hat minimises); otherwise it is the
    # first network. A fixed alpha = 0.5 ended worse for these seeds.
    X, X_val, y, y_val = wine
    params = dict(module__hidden_layer_sizes=(8,), batch_size=32, random_state=seed)
    first = wine_net(n_steps=1, **params).fit(X, y, X_val, y_val)
    chain = wine_net(n_steps=3, **params).fit(X, y, X_val, y_val)
    assert chain.n_fits_ == 5
    assert brier(chain, X_val, y_val) <= brier(first, X_val, y_val)


def test_a_step_that_does_not_validate_better_than_the_first_is_the_first(wine):
    # One validation sample per class: no network trained with an unclipped
    # alpha-hat validates better than the first by one standard error.
    X, X_val, y, y_val = wine
    one_per_class = [int(np.flatnonzero(y_val == c)[0]) for c in range(3)]
    X_val, y_val = X_val[one_per_class], y_val[one_per_class]
    params = dict(module__hidden_layer_sizes=(8,), batch_size=32, random_state=0)
    first = wine_net(n_steps=1, **params).fit(X, y, X_val, y_val)
    net = wine_net(n_steps=2, clip_alpha=False, **params).fit(X, y, X_val, y_val)
    assert net.alphas_unclipped_[0] > 1 and net.alphas_.tolist() == [1.0]
    assert net.step_scores()["fallback"].tolist() == [False, False, True]
    assert net.best_step_ == 1
    np.testing.assert_array_equal(net.predict_proba(X), first.predict_proba(X))
