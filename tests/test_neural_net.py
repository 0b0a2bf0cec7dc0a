"""SelfDistilledNeuralNet: eq. (18), the adapted Algorithm 1, resuming, the sklearn API.

Everything runs on the CPU in seconds: a tiny MLP or CNN on part of sklearn's
digits, one or two epochs per network.
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.callbacks import ProgressBar  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.closed_forms import optimal_alpha  # noqa: E402
from selfdistill_sklearn.networks import MLP, SmallCNN  # noqa: E402
from selfdistill_sklearn.neural_net import self_distillation_loss  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(y))
    train, valid = order[:500], order[500:700]
    return X[train], y[train], X[valid], y[valid]


def make_net(**params):
    # A fixed weight unless a test sets one: the default alpha-hat needs validation data.
    defaults = dict(alpha=0.5, lr=1e-2, max_epochs=2, batch_size=64, random_state=0,
                    verbose=0, device="cpu")
    if "module" not in params:
        defaults.update(module=MLP, module__hidden_layer_sizes=(24,))
    defaults.update(params)
    return SelfDistilledNeuralNet(**defaults)


def weights(net):
    return {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------- eq. (18)
def test_loss_is_the_weighted_sum_of_squared_errors():
    rng = np.random.RandomState(0)
    logits = rng.randn(5, 3)
    targets = np.array([0, 2, 1, 1, 0])
    teacher = rng.dirichlet(np.ones(3), size=5)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    onehot = np.eye(3)[targets]
    expected = 0.3 * np.mean((proba - onehot) ** 2) + 0.7 * np.mean((proba - teacher) ** 2)
    loss = self_distillation_loss(
        torch.tensor(logits), torch.tensor(targets), torch.tensor(teacher), 0.3
    )
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    first = self_distillation_loss(torch.tensor(logits), torch.tensor(targets))
    assert first.item() == pytest.approx(np.mean((proba - onehot) ** 2), rel=1e-6)
    with pytest.raises(ValueError, match="teacher"):
        self_distillation_loss(torch.tensor(logits), torch.tensor(targets), None, 0.5)


def test_loss_at_alpha_one_ignores_the_teacher_and_at_zero_the_labels():
    rng = np.random.RandomState(1)
    logits = torch.tensor(rng.randn(6, 4), requires_grad=True)
    labels = [torch.tensor(rng.randint(0, 4, 6)) for _ in range(2)]
    teachers = [torch.tensor(rng.dirichlet(np.ones(4), size=6)) for _ in range(2)]

    def grad(alpha, target, teacher):
        logits.grad = None
        self_distillation_loss(logits, target, teacher, alpha).backward()
        return logits.grad.clone()

    assert torch.equal(grad(1.0, labels[0], teachers[0]), grad(1.0, labels[0], teachers[1]))
    assert torch.equal(grad(0.0, labels[0], teachers[0]), grad(0.0, labels[1], teachers[0]))
    assert not torch.equal(grad(0.5, labels[0], teachers[0]), grad(0.5, labels[0], teachers[1]))
    assert not torch.equal(grad(0.5, labels[0], teachers[0]), grad(0.5, labels[1], teachers[0]))


class NoisyTeacherNet(SelfDistilledNeuralNet):
    """Replaces the teacher's probabilities by noise that draws on no torch stream."""

    def _teacher_proba(self, X):
        proba = super()._teacher_proba(X)
        if proba is None:
            return None
        rng = np.random.RandomState(len(proba))
        return torch.as_tensor(rng.dirichlet(np.ones(proba.shape[1]), size=len(proba)),
                               dtype=proba.dtype, device=proba.device)


class WrongLabelsNet(SelfDistilledNeuralNet):
    """Shifts every label by one class from step 2 on."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        chain = getattr(self, "_network", None)
        if chain is not None and chain.step > 1:
            y_true = (torch.as_tensor(y_true) + 1) % y_pred.shape[1]
        return super().get_loss(y_pred, y_true, X=X, training=training)


@pytest.mark.parametrize(
    ("alpha", "perturbed", "ignored"),
    [(1.0, NoisyTeacherNet, True), (0.5, NoisyTeacherNet, False),
     (0.0, WrongLabelsNet, True), (0.5, WrongLabelsNet, False)],
)
def test_chain_uses_labels_and_teacher_as_weighted(digits, alpha, perturbed, ignored):
    """alpha = 1 trains step 2 on the labels alone, alpha = 0 on the teacher alone."""
    X, y, X_val, y_val = digits
    params = dict(
        module=MLP, module__hidden_layer_sizes=(24,), lr=1e-2, max_epochs=1, batch_size=64,
        random_state=0, verbose=0, device="cpu", alpha=alpha, validation_fraction=None,
    )
    plain = SelfDistilledNeuralNet(**params).fit(X, y)
    other = perturbed(**params).fit(X, y)
    assert same_weights(weights(plain), weights(other)) == ignored


class RecordingNet(SelfDistilledNeuralNet):
    """Checks that the teacher sees the very batch the student is trained on."""

    def infer(self, x, **fit_params):
        self.last_input_ = self._as_input(x)
        return super().infer(x, **fit_params)

    def _teacher_proba(self, X):
        proba = super()._teacher_proba(X)
        if proba is not None and self.module_.training:
            assert torch.equal(self._as_input(X), self.last_input_)
            self.teacher_calls_ = getattr(self, "teacher_calls_", 0) + 1
        return proba


def test_teacher_sees_the_same_augmented_batch(digits):
    X, y, _, _ = digits
    net = RecordingNet(
        module=SmallCNN, module__channels=(4,), max_epochs=1, batch_size=100, lr=1e-2,
        alpha=0.5, augment=True, validation_fraction=None, random_state=0, verbose=0, device="cpu",
    ).fit(X.reshape(-1, 1, 8, 8), y)
    assert net.teacher_calls_ == 5


# ------------------------------------------------------- Algorithm 1 / alphas
def test_alpha_hat_is_the_brute_force_minimiser_on_validation_probabilities(digits):
    X, y, X_val, y_val = digits
    net = make_net(alpha="optimal", n_steps=2).fit(X, y, X_val=X_val, y_val=y_val)
    # Step 1 and the alpha = 0 fit of step 2 are reproduced by chains that stop there
    # or use alpha = 0: every step starts from the same seed whatever alpha is.
    y1 = make_net(n_steps=1).fit(X, y, X_val=X_val, y_val=y_val).predict_proba(X_val)
    y0 = make_net(alpha=0.0).fit(X, y, X_val=X_val, y_val=y_val).predict_proba(X_val)
    onehot = np.eye(10)[y_val]

    def errors(grid):
        return [np.sum((onehot - (a * y1 + (1 - a) * y0)) ** 2) for a in grid]

    coarse = np.linspace(-50, 50, 1001)
    best = coarse[int(np.argmin(errors(coarse)))]
    fine = np.linspace(best - 0.1, best + 0.1, 20001)
    raw = net.alphas_unclipped_[0]
    assert raw == pytest.approx(fine[int(np.argmin(errors(fine)))], abs=2e-5)
    assert raw == pytest.approx(optimal_alpha(y1, y0, onehot), rel=1e-9)
    # By default alpha-hat is clipped to [0, 1] before step 2 trains with it ...
    assert raw > 1 and net.alphas_[0] == 1.0
    # ... and the last network is step 2 trained with the clipped alpha-hat.
    replay = make_net(alpha=list(net.alphas_)).fit(X, y, X_val=X_val, y_val=y_val)
    assert same_weights(weights(net), weights(replay))


@pytest.mark.parametrize(
    ("alpha", "n_steps", "n_fits", "alphas"),
    [(0.3, 3, 3, [0.3, 0.3]), ([0.2, 0.7], 3, 3, [0.2, 0.7]), (0.5, 1, 1, []),
     ("optimal", 3, 5, None), ("optimal", 1, 1, [])],
)
def test_n_fits_alphas_and_history(digits, alpha, n_steps, n_fits, alphas):
    X, y, _, _ = digits
    net = make_net(alpha=alpha, n_steps=n_steps, max_epochs=1, validation_fraction=0.2)
    net.fit(X, y)
    assert net.n_fits_ == n_fits
    assert net.alphas_.shape == (n_steps - 1,)
    if alphas is not None:
        np.testing.assert_allclose(net.alphas_, alphas)
    assert len(net.history) == n_fits * net.max_epochs
    for row in net.history:
        # A step with alpha = 1 reuses the first network: it has no training row.
        trained = () if row.get("reused") else ("train_loss", "train_acc", "valid_loss", "dur")
        for key in ("step", "fit", "alpha", "probe", "valid_acc", *trained):
            assert key in row
    table = net.step_scores()
    assert list(table["fit"]) == list(range(1, n_fits + 1))
    chain = table[~table["probe"]]
    assert list(chain["step"]) == list(range(1, n_steps + 1))
    np.testing.assert_allclose(chain["alpha"].to_numpy()[1:], net.alphas_)
    if alpha == "optimal":
        assert list(table["probe"]) == [False] + [True, False] * (n_steps - 1)
        assert np.all(table.loc[table["probe"], "alpha"] == 0)


def test_clip_alpha_keeps_alpha_hat_in_the_unit_interval(digits):
    X, y, X_val, y_val = digits
    free = make_net(alpha="optimal", max_epochs=1, n_steps=3, clip_alpha=False)
    free.fit(X, y, X_val=X_val, y_val=y_val)
    # Unclipped, except at a step that fell back to the first network (alpha = 1).
    fell_back = free.step_scores().query("not probe")["fallback"].to_numpy()[1:]
    np.testing.assert_array_equal(free.alphas_, np.where(fell_back, 1.0, free.alphas_unclipped_))
    clipped = make_net(alpha="optimal", max_epochs=1, n_steps=3)
    assert clipped.clip_alpha is True  # the default
    clipped.fit(X, y, X_val=X_val, y_val=y_val)
    # Step 2 is the same in both chains up to its alpha = 0 fit: the same estimate.
    assert clipped.alphas_unclipped_[0] == free.alphas_unclipped_[0]
    assert free.alphas_[0] > 1
    np.testing.assert_array_equal(clipped.alphas_, np.clip(clipped.alphas_unclipped_, 0, 1))
    replay = make_net(alpha=list(clipped.alphas_), n_steps=3, max_epochs=1)
    replay.fit(X, y, X_val=X_val, y_val=y_val)
    assert same_weights(weights(clipped), weights(replay))


def test_last_validation_accuracy_is_that_of_the_returned_network(digits):
    X, y, X_val, y_val = digits
    net = make_net(alpha=0.5, n_steps=2).fit(X, y, X_val=X_val, y_val=y_val)
    table = net.step_scores()
    assert table["valid_acc"].iloc[-1] == pytest.approx(net.score(X_val, y_val))
    assert set(table.columns) >= {"train_acc", "valid_acc", "train_loss", "valid_loss",
                                  "fit_time", "epochs"}


# ------------------------------------------------------- reproducibility, resume
def test_random_state_reproduces_and_leaves_torch_streams_alone(digits):
    X, y, _, _ = digits
    state = torch.get_rng_state()
    a = make_net(alpha=0.5, random_state=3).fit(X, y)
    assert torch.equal(torch.get_rng_state(), state)
    b = make_net(alpha=0.5, random_state=3).fit(X, y)
    c = make_net(alpha=0.5, random_state=4).fit(X, y)
    assert same_weights(weights(a), weights(b))
    assert not same_weights(weights(a), weights(c))


class Interrupted(Exception):
    pass


@pytest.mark.parametrize(("alpha", "interrupt_fit"), [(0.4, 2), ("optimal", 3)])
def test_resume_after_interruption_at_step_two_equals_uninterrupted(
    digits, tmp_path, monkeypatch, alpha, interrupt_fit
):
    X, y, _, _ = digits
    # Unclipped, alpha-hat is not 1 and every network trains (one with alpha = 1 is
    # the first network, not trained).
    params = dict(alpha=alpha, n_steps=3, validation_fraction=0.2, clip_alpha=alpha != "optimal")
    reference = make_net(**params).fit(X, y)

    original = SelfDistilledNeuralNet.train_step
    trained = []

    def train_step(self, batch, **fit_params):
        if self._network.fit == interrupt_fit and len(self.history[-1]["batches"]) == 3:
            raise Interrupted  # mid-epoch of the network at step 2
        return original(self, batch, **fit_params)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        trained.append(self._network.fit)
        return NeuralNetClassifier.fit_loop(self, X, y, epochs, **fit_params)

    monkeypatch.setattr(SelfDistilledNeuralNet, "train_step", train_step)
    monkeypatch.setattr(SelfDistilledNeuralNet, "fit_loop", fit_loop)
    with pytest.raises(Interrupted):
        make_net(checkpoint_dir=tmp_path, **params).fit(X, y)
    assert trained == list(range(1, interrupt_fit + 1))
    monkeypatch.setattr(SelfDistilledNeuralNet, "train_step", original)

    trained.clear()
    resumed = make_net(checkpoint_dir=tmp_path, verbose=1, **params).fit(X, y)
    assert trained == list(range(interrupt_fit, reference.n_fits_ + 1))
    assert same_weights(weights(resumed), weights(reference))
    np.testing.assert_array_equal(resumed.alphas_, reference.alphas_)
    assert len(resumed.history) == len(reference.history)
    np.testing.assert_array_equal(resumed.predict_proba(X), reference.predict_proba(X))

    # A finished chain is loaded, not retrained.
    trained.clear()
    again = make_net(checkpoint_dir=tmp_path, **params).fit(X, y)
    assert trained == []
    assert same_weights(weights(again), weights(reference))


def test_checkpoint_of_other_parameters_is_replaced_with_a_warning(digits, tmp_path):
    X, y, _, _ = digits
    make_net(alpha=0.3, checkpoint_dir=tmp_path).fit(X, y)
    with pytest.warns(UserWarning, match="other parameters or data"):
        net = make_net(alpha=0.6, checkpoint_dir=tmp_path).fit(X, y)
    fresh = make_net(alpha=0.6).fit(X, y)
    assert same_weights(weights(net), weights(fresh))
    with pytest.warns(UserWarning, match="other parameters or data"):
        make_net(alpha=0.6, checkpoint_dir=tmp_path).fit(X[:-1], y[:-1])


# ------------------------------------------------------------------ bad input
def test_bad_parameters_are_named(digits):
    X, y, X_val, y_val = digits
    cases = [
        (dict(alpha=1.5), ValueError, "alpha must lie in"),
        (dict(alpha="best"), ValueError, "'optimal'"),
        (dict(alpha=[0.1, 0.2], n_steps=2), ValueError, "n_steps - 1 = 1"),
        (dict(alpha=[np.nan], n_steps=2), ValueError, "finite"),
        (dict(n_steps=float("inf")), ValueError, "n_steps must be finite"),
        (dict(n_steps=0), ValueError, "n_steps"),
        (dict(reg_lambda=0.0), ValueError, "reg_lambda"),
        (dict(reg_lambda=-1e-4), ValueError, "reg_lambda"),
        (dict(clip_alpha="yes"), TypeError, "clip_alpha"),
        (dict(validation_fraction=1.0), ValueError, "validation_fraction"),
        (dict(image_shape=(8, 8)), ValueError, "image_shape"),
        (dict(max_epochs=0), ValueError, "max_epochs"),
        (dict(optimizer__weight_decay=0.1), ValueError, "reg_lambda"),
        (dict(warm_start=True), ValueError, "warm_start"),
        (dict(train_split=lambda ds, y: (ds, None)), ValueError, "train_split"),
        (dict(alpha="optimal", validation_fraction=None), ValueError, "validation data"),
        (dict(module="resnet18"), ValueError, "needs images"),
        (dict(augment=True), ValueError, "augment=True needs images"),
    ]
    for params, error, message in cases:
        with pytest.raises(error, match=message):
            make_net(**params).fit(X, y)


def test_bad_data_is_named(digits):
    X, y, X_val, y_val = digits
    net = make_net()
    X_nan = X.copy()
    X_nan[3, 5] = np.nan
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    y_nan = y.astype(float)
    y_nan[2] = np.nan
    cases = [
        ((X_nan, y), {}, "NaN"),
        ((X_inf, y), {}, "infinity"),
        ((X, y_nan), {}, "NaN"),
        ((X, y[:-1]), {}, "inconsistent numbers of samples"),
        ((X.reshape(-1, 8, 8), y), {}, "2-D .* or 4-D"),
        ((X, y + 0.5), {}, "Unknown label type"),
        ((X, np.zeros_like(y)), {}, "at least 2 classes"),
        ((X, y), dict(X_val=X_val), "both X_val and y_val"),
        ((X, y), dict(X_val=X_nan[:10], y_val=y[:10]), "NaN"),
        ((X, y), dict(X_val=X[:10], y_val=y_nan[:10]), "y_val contains NaN"),
        ((X, y), dict(X_val=X_val[:, :10], y_val=y_val), "X_val has 10 features"),
        ((X, y), dict(X_val=X_val.reshape(-1, 1, 8, 8), y_val=y_val), "X_val has samples of"),
        ((X, y), dict(X_val=X_val, y_val=y_val[:-1]), "inconsistent"),
        ((X, y % 5), dict(X_val=X_val, y_val=y_val), "not among the classes"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            net.fit(*args, **kwargs)


def test_optimal_needs_every_class_in_the_validation_data(digits):
    X, y, X_val, y_val = digits
    keep = y_val != 7
    with pytest.raises(ValueError, match=r"every class .* lacks \[7\]"):
        make_net(alpha="optimal").fit(X, y, X_val=X_val[keep], y_val=y_val[keep])
    # A class with a single sample cannot be split in a stratified way.
    few = np.r_[np.flatnonzero(y != 3), np.flatnonzero(y == 3)[:1]]
    with pytest.raises(ValueError, match="stratified validation split"):
        make_net(alpha="optimal").fit(X[few], y[few])
    # Fixed alphas only monitor the validation data: a missing class is fine.
    make_net(alpha=0.5, max_epochs=1).fit(X, y, X_val=X_val[keep], y_val=y_val[keep])


def test_prediction_input_and_unseen_labels(digits):
    X, y, X_val, y_val = digits
    net = make_net(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 10 features, but .* expecting 64"):
        net.predict(X[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        net.predict(np.full_like(X[:3], np.nan))
    # Labels never seen in training are simply never predicted, as in skorch.
    y_new = y_val.copy()
    y_new[:20] = 42
    predicted = net.predict(X_val)
    assert net.score(X_val, y_new) == pytest.approx(np.mean(predicted == y_new))
    assert not hasattr(net, "partial_fit")


def test_string_labels_and_label_order(digits):
    X, y, X_val, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    net = make_net(max_epochs=1).fit(X, names[y])
    assert set(net.predict(X_val)) <= set(names)
    np.testing.assert_array_equal(net.classes_, np.sort(names))
    proba = net.predict_proba(X_val)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(net.classes_[proba.argmax(axis=1)], net.predict(X_val))


# ---------------------------------------------------------------- sklearn API
def test_pipeline_grid_search_clone_and_pickle(digits):
    X, y, X_val, y_val = digits
    pipe = make_pipeline(StandardScaler(), make_net(max_epochs=1, device="auto"))
    assert pipe.fit(X, y).score(X_val, y_val) > 0.5
    search = GridSearchCV(make_net(max_epochs=1, validation_fraction=None),
                          {"alpha": [0.0, 1.0]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["alpha"] in (0.0, 1.0)
    assert len(search.cv_results_["mean_test_score"]) == 2

    net = pipe[-1]
    twin = clone(net)
    assert twin.get_params()["alpha"] == net.alpha and not hasattr(twin, "module_")
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict_proba(X_val), pipe.predict_proba(X_val))
    assert restored[-1].get_params()["device"] == "auto"
    assert restored[-1].device == restored[-1].device_ == "cpu"


def test_skorch_routing_callbacks_and_verbosity(digits, capsys):
    X, y, _, _ = digits
    net = make_net(module__hidden_layer_sizes=(5, 6), optimizer=torch.optim.SGD,
                   optimizer__momentum=0.9, iterator_train__shuffle=False, verbose=2,
                   validation_fraction=None, max_epochs=1)
    net.fit(X, y)
    assert [m.out_features for m in net.module_.modules() if isinstance(m, torch.nn.Linear)] \
        == [5, 6, 10]
    assert isinstance(net.optimizer_, torch.optim.SGD)
    assert net.optimizer_.defaults["momentum"] == 0.9
    assert net.optimizer_.defaults["weight_decay"] == net.reg_lambda
    assert any(isinstance(cb, ProgressBar) for _, cb in net.callbacks_)
    out = capsys.readouterr().out
    assert "Self-distillation step 2/2" in out and "train_loss" in out
    make_net(max_epochs=1).fit(X, y)
    assert capsys.readouterr().out == ""


def test_images_through_a_scaler_with_image_shape_and_augmentation(digits):
    X, y, X_val, y_val = digits
    pipe = make_pipeline(
        StandardScaler(),
        make_net(module=SmallCNN, module__channels=(8,), image_shape=(1, 8, 8), augment=True,
                 max_epochs=1),
    )
    pipe.fit(X, y)
    assert pipe.predict(X_val).shape == y_val.shape
    with pytest.warns(UserWarning, match="mixed_precision"):
        make_net(mixed_precision=True, max_epochs=1, n_steps=1).fit(X, y)


def test_default_resnet50_trains_a_step_on_fake_images():
    from torchvision.datasets import FakeData
    from torchvision.transforms import PILToTensor

    data = FakeData(size=4, image_size=(3, 32, 32), num_classes=2, transform=PILToTensor(),
                    random_offset=0)
    X = np.stack([np.asarray(image, dtype=np.float32) / 255 for image, _ in data])
    y = np.array([0, 1, 0, 1])
    net = SelfDistilledNeuralNet(n_steps=1, max_epochs=1, batch_size=4,
                                 validation_fraction=None, random_state=0, verbose=0)
    assert net.module == "resnet50" and net.lr == 1e-4 and net.reg_lambda == 1e-4
    if torch.cuda.is_available():
        net.fit(X, y)
    else:
        with pytest.warns(UserWarning, match=r"'resnet50' has 23\.5 million parameters .* CPU"):
            net.fit(X, y)
    assert type(net.module_).__name__ == "ResNet" and net.module_.fc.out_features == 2
    assert net.module_.conv1.stride == (1, 1)
    assert net.predict_proba(X).shape == (4, 2)
    assert net.device_ in ("cpu", "cuda")


# Checks that cannot apply to a skorch network classifier, with the reason.
NOT_APPLICABLE = {
    "check_no_attributes_set_in_init": (
        "skorch's NeuralNet.__init__ stores history_, initialized_, virtual_params_ and the "
        "routed module__*/optimizer__* keyword arguments; the estimator keeps skorch's "
        "construction so that this routing and the history work as in skorch"
    ),
}

_CHECKED = [
    make_net(max_epochs=8, batch_size=32, lr=0.05, module__hidden_layer_sizes=(16,),
             validation_fraction=None),
    make_net(alpha="optimal", max_epochs=8, batch_size=32, lr=0.05,
             module__hidden_layer_sizes=(16,), validation_fraction=0.25),
]


@parametrize_with_checks(_CHECKED, expected_failed_checks=lambda est: NOT_APPLICABLE)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
