"""SelfDistilledNeuralNet as a skorch net: devices, callbacks, labels, inputs, failures,
checkpoints, and the safe defaults of a chain (clipped alpha-hat, the best step).

Tiny networks on 120 Gaussian samples or part of sklearn's digits; seconds on a CPU.
"""

import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, EpochScoring  # noqa: E402
from skorch.dataset import Dataset  # noqa: E402
from skorch.exceptions import DeviceWarning  # noqa: E402
from torch import nn  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn._chain_checkpoint import CHECKPOINT_FILE  # noqa: E402
from selfdistill_sklearn.networks import MLP  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4)).astype("float32")
    y = np.argmax(X[:, :3], axis=1)
    return X, y


def make_net(**params):
    # A fixed weight unless a test sets one: the default alpha-hat needs validation data.
    defaults = dict(module=MLP, alpha=0.5, n_steps=2, lr=1e-2, max_epochs=2, random_state=0,
                    verbose=0, module__hidden_layer_sizes=(8,))
    defaults.update(params)
    return SelfDistilledNeuralNet(**defaults)


def weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class CountNetworks(Callback):
    """Counts the training runs (networks) and the epochs of each."""

    def initialize(self):
        # Kept across the per-network initialisation: the count is the point.
        if not hasattr(self, "runs_"):
            self.runs_ = []
        return self

    def on_train_begin(self, net, **kwargs):
        self.runs_.append(0)

    def on_epoch_end(self, net, **kwargs):
        self.runs_[-1] += 1


class InterruptAt(Callback):
    """A Ctrl-C in the middle of the network ``fit``."""

    def __init__(self, fit):
        self.fit = fit

    def on_batch_begin(self, net, **kwargs):
        if net.history[-1]["fit"] == self.fit:
            raise KeyboardInterrupt


# ------------------------------------------------------------------- device
def test_auto_device_is_resolved_where_skorch_reads_it(data, tmp_path):
    X, y = data
    scorers = [EpochScoring("accuracy", name="valid_accuracy"),
               EpochScoring("accuracy", name="train_accuracy", on_train=True)]
    net = make_net(callbacks=scorers).fit(X, y)
    assert net.get_params()["device"] == "auto" and net.device == net.device_ == "cpu"
    for row in net.history:
        assert row["valid_accuracy"] == pytest.approx(row["valid_acc"])
        assert row["train_accuracy"] == pytest.approx(row["train_acc"])
    # skorch re-initialises the module on set_params and moves it to net.device.
    net.set_params(module__hidden_layer_sizes=(5,))
    assert net.module_.layers[1].out_features == 5
    assert net.get_params()["device"] == "auto"
    # ... and loads parameters onto it.
    net.save_params(f_params=tmp_path / "params.pt")
    net.load_params(f_params=tmp_path / "params.pt")
    assert net.get_params()["device"] == "auto"
    assert net.predict(X).shape == y.shape


@pytest.mark.parametrize("requested", ["auto", "cuda"])
def test_a_cuda_net_unpickled_without_a_gpu_predicts_on_the_cpu(data, requested):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    X, y = data
    net = make_net(device=requested if requested == "auto" else "cpu").fit(X, y)
    expected = net.predict_proba(X)
    # What a net trained on a GPU holds (its tensors are moved to the CPU by pickle).
    vars(net)["device"] = "cuda"
    vars(net)["_device_param"] = requested
    net.device_ = "cuda"
    with pytest.warns(DeviceWarning):
        loaded = pickle.loads(pickle.dumps(net))
    assert str(loaded.device) == str(loaded.device_) == "cpu"
    # As plain skorch: an explicit "cuda" falls back to the CPU; "auto" stays "auto".
    assert str(loaded.get_params()["device"]) == ("auto" if requested == "auto" else "cpu")
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def test_repr_shows_the_parameters():
    text = repr(make_net(alpha=0.3, n_steps=4))
    assert text.startswith("SelfDistilledNeuralNet(")
    assert "alpha=0.3" in text and "n_steps=4" in text and "uninitialized" not in text
    assert repr(SelfDistilledNeuralNet()) == "SelfDistilledNeuralNet()"


def test_a_large_network_on_the_cpu_gives_one_warning_and_a_small_one_none(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_net(device="cpu").fit(X, y)

    class Wide(nn.Module):
        def __init__(self, input_shape, num_classes, hidden_layer_sizes):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(input_shape[0], 6000), nn.ReLU(),
                                        nn.Linear(6000, 1000), nn.Linear(1000, num_classes))

        def forward(self, x):
            return self.layers(x)

    with pytest.warns(UserWarning, match=r"6\.0 million parameters .* CPU") as record:
        make_net(module=Wide, device="cpu", max_epochs=1, batch_size=128).fit(X, y)
    assert sum("million parameters" in str(w.message) for w in record) == 1


# ---------------------------------------------------------------- callbacks
def test_early_stopping_ends_one_network_and_the_chain_goes_on(data):
    X, y = data
    counter = CountNetworks()
    # The training loss falls every epoch: "higher is better" stops each network after
    # its first epoch and two misses.
    stop = EarlyStopping(monitor="train_loss", lower_is_better=False, patience=2)
    # Unclipped: no alpha-hat is 1, so every network trains (alpha = 1 reuses the first).
    net = make_net(alpha="optimal", n_steps=3, max_epochs=20, callbacks=[counter, stop],
                   clip_alpha=False)
    net.fit(X, y)
    assert counter.runs_ == [3] * 5
    assert net.n_fits_ == 5 and net.alphas_.shape == (2,)
    assert list(net.step_scores()["epochs"]) == [3] * 5


def test_a_learning_rate_schedule_starts_again_with_each_network(data):
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import StepLR

    net = make_net(max_epochs=3, callbacks=[LRScheduler(StepLR, step_size=1, gamma=0.5)])
    net.fit(*data)
    assert [(row["fit"], row["epoch"], row["event_lr"]) for row in net.history] == [
        (1, 1, 0.01), (1, 2, 0.005), (1, 3, 0.0025), (2, 1, 0.01), (2, 2, 0.005),
        (2, 3, 0.0025)]


class KeepWeights(Callback):
    def initialize(self):
        if not hasattr(self, "kept_"):
            self.kept_ = {}
        return self

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.kept_[(row["fit"], row["epoch"])] = weights(net.module_)


def test_checkpoint_compares_the_epochs_of_one_network(data, tmp_path):
    X, y = data
    keep = KeepWeights()
    checkpoint = Checkpoint(monitor="valid_loss_best", load_best=True, dirname=str(tmp_path),
                            f_history=None)
    # A fixed weight: the last network trains and is kept.
    net = make_net(alpha=0.5, max_epochs=4, lr=3e-2, callbacks=[keep, checkpoint])
    net.fit(X, y)
    rows = [row for row in net.history if row["fit"] == net.n_fits_]
    best = min(rows, key=lambda row: row["valid_loss"])
    assert best["valid_loss_best"]
    assert same_weights(weights(net.module_), keep.kept_[(net.n_fits_, best["epoch"])])
    # Each network's first epoch is its own best so far.
    assert all(row["valid_loss_best"] for row in net.history if row["epoch"] % 4 == 1)


# ------------------------------------------------------------------- labels
def test_classes_in_an_order_of_their_own_encode_by_position(data):
    X, y = data
    classes = np.array(["cat", "bird", "dog"])
    by_position = make_net().fit(X, y)  # labels 0, 1, 2 are positions already
    named = make_net(classes=list(classes)).fit(X, classes[y])
    np.testing.assert_array_equal(named.classes_, classes)
    assert same_weights(weights(named.module_), weights(by_position.module_))
    np.testing.assert_array_equal(named.predict_proba(X), by_position.predict_proba(X))
    np.testing.assert_array_equal(named.predict(X), classes[by_position.predict(X)])
    with pytest.raises(ValueError, match=r"not among the classes \['cat', 'bird', 'dog'\]"):
        make_net(classes=["cat", "bird", "dog"]).fit(X, np.array(["cat", "cow", "dog"])[y])
    with pytest.raises(ValueError, match="classes must be None or a sequence of at least 2"):
        make_net(classes=["cat", "cat", "dog"]).fit(X, classes[y])


# ------------------------------------------------------------------- inputs
def test_a_dataset_given_to_fit_is_refused_in_one_sentence(data):
    X, y = data
    with pytest.raises(TypeError, match="fit needs the samples and labels as arrays"):
        make_net().fit(Dataset(X, y), None)
    with pytest.raises(TypeError, match="not a torch Dataset"):
        make_net().fit(X, y, X_val=Dataset(X, y), y_val=y)
    net = make_net().fit(X, y)
    np.testing.assert_array_equal(net.predict_proba(Dataset(X, y)), net.predict_proba(X))


def test_any_numpy_array_works_anywhere(data):
    import pandas as pd

    X, y = data
    reference = make_net().fit(X, y)
    plain = reference.predict_proba(X[:, ::-1].copy())
    read_only = X.copy()
    read_only.flags.writeable = False
    variants = [X[:, ::-1], np.asfortranarray(X)[:, ::-1], X.astype(">f4")[:, ::-1],
                X.astype(np.float64)[:, ::-1]]
    for variant in variants:
        np.testing.assert_allclose(reference.predict_proba(variant), plain, rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(reference.predict_proba(read_only),
                                      reference.predict_proba(X))
        assert same_weights(weights(make_net().fit(read_only, y).module_),
                            weights(reference.module_))
    # Fitting on views equals fitting on their contiguous copies.
    flipped = make_net().fit(X[::-1], y[::-1], X_val=X[::-2], y_val=y[::-2])
    copied = make_net().fit(X[::-1].copy(), y[::-1].copy(), X_val=X[::-2].copy(),
                            y_val=y[::-2].copy())
    assert same_weights(weights(flipped.module_), weights(copied.module_))
    # Images seen through a flipping view, with augmentation on the device.
    images = np.repeat(X[:, :, None, None], 4, axis=2).repeat(4, axis=3)
    make_net(augment=True, max_epochs=1).fit(images[..., ::-1], y)

    frame = pd.DataFrame(X, columns=list("abcd"))
    net = make_net().fit(frame, y, X_val=frame, y_val=y)
    with pytest.raises(ValueError, match=r"X_val has the columns \['b', 'a', 'c', 'd'\]"):
        make_net().fit(frame, y, X_val=frame[list("bacd")], y_val=y)
    with pytest.raises(ValueError, match=r"X has the columns \['b', 'a', 'c', 'd'\]"):
        net.predict(frame[list("bacd")])


# ------------------------------------------------------------------ failures
def test_an_interrupted_fit_leaves_no_fitted_state(data):
    X, y = data
    net = make_net(callbacks=[InterruptAt(fit=2)])
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y)
    with pytest.raises(NotFittedError):
        net.predict(X)
    assert not hasattr(net, "alphas_") and not hasattr(net, "n_fits_")


def test_an_interrupted_refit_keeps_the_previous_chain(data):
    X, y = data
    net = make_net(alpha="optimal", n_steps=3).fit(X, y)
    proba, alphas, history = net.predict_proba(X), net.alphas_.copy(), list(net.history)
    net.set_params(alpha=0.2, callbacks=[InterruptAt(fit=2)])
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y)
    np.testing.assert_array_equal(net.predict_proba(X), proba)
    np.testing.assert_array_equal(net.alphas_, alphas)
    assert list(net.history) == history and net.n_fits_ == 5
    # A refit that fails its checks keeps it too.
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        net.set_params(callbacks=None).fit(X, y[:-1])
    np.testing.assert_array_equal(net.predict_proba(X), proba)
    # A plain refit then works.
    assert net.fit(X, y).alphas_.tolist() == [0.2, 0.2]


# -------------------------------------------------------------- checkpoints
def test_an_unwritable_checkpoint_dir_is_found_before_training(data, tmp_path):
    X, y = data
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    counter = CountNetworks()
    with pytest.raises(ValueError, match="checkpoint_dir=.*a_file.* cannot be written"):
        make_net(checkpoint_dir=blocker / "run", callbacks=[counter]).fit(X, y)
    assert getattr(counter, "runs_", []) == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "a tensor"])
def test_a_damaged_checkpoint_names_the_file_and_the_remedy(data, tmp_path, damage):
    X, y = data
    path = tmp_path / CHECKPOINT_FILE
    if damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 10)
    elif damage == "truncated":
        make_net(checkpoint_dir=tmp_path).fit(X, y)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        torch.save(torch.zeros(3), path)
    with pytest.raises(ValueError, match=rf"checkpoint file {path} cannot be read .*Delete it"):
        make_net(checkpoint_dir=tmp_path).fit(X, y)


@pytest.mark.parametrize(("short", "long"), [
    (dict(alpha="optimal", n_steps=2, clip_alpha=False),
     dict(alpha="optimal", n_steps=3, clip_alpha=False)),
    (dict(alpha=[0.3], n_steps=2), dict(alpha=[0.3, 0.7], n_steps=3)),
    (dict(alpha=0.4, n_steps=1), dict(alpha=0.4, n_steps=3)),
])
def test_raising_n_steps_extends_a_finished_chain(data, tmp_path, short, long):
    X, y = data
    make_net(checkpoint_dir=tmp_path, callbacks=[CountNetworks()], **short).fit(X, y)
    counter = CountNetworks()  # the same callbacks: they are part of a checkpoint's key
    extended = make_net(checkpoint_dir=tmp_path, callbacks=[counter], **long).fit(X, y)
    fresh = make_net(**long).fit(X, y)
    assert len(counter.runs_) == fresh.n_fits_ - make_net(**short).fit(X, y).n_fits_
    assert same_weights(weights(extended.module_), weights(fresh.module_))
    np.testing.assert_array_equal(extended.alphas_, fresh.alphas_)
    assert len(extended.history) == len(fresh.history)


def test_a_chain_that_does_not_continue_the_checkpoint_starts_over(data, tmp_path):
    X, y = data
    make_net(checkpoint_dir=tmp_path, alpha=[0.3], n_steps=2).fit(X, y)
    with pytest.warns(UserWarning, match="other parameters or data"):
        make_net(checkpoint_dir=tmp_path, alpha=[0.4, 0.7], n_steps=3).fit(X, y)
    with pytest.warns(UserWarning, match="other parameters or data"):
        make_net(checkpoint_dir=tmp_path, alpha=[0.4], n_steps=2).fit(X, y)


# ------------------------------------------------- alpha-hat and the best step
@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype("float32").reshape(-1, 1, 8, 8)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def tiny_cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                         nn.Flatten(), nn.Linear(128, 10))


def digits_net(**params):
    return SelfDistilledNeuralNet(tiny_cnn, lr=3e-3, max_epochs=3, random_state=0, verbose=0,
                                  **params)


def test_short_trainings_with_the_defaults_do_not_wreck_the_first_network(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    first = digits_net(n_steps=1).fit(X_train, y_train).score(X_test, y_test)
    chain = digits_net(alpha="optimal", n_steps=3).fit(X_train, y_train)
    assert chain.score(X_test, y_test) >= first
    # alpha-hat far above 1, clipped to 1 for training, the estimate kept.
    assert chain.alphas_unclipped_[0] > 5
    np.testing.assert_array_equal(chain.alphas_, np.clip(chain.alphas_unclipped_, 0, 1))
    # Unclipped, the loss rewards disagreeing with the teacher: each network trained
    # so validates far below the first, and its step falls back to the first network.
    unclipped = digits_net(alpha="optimal", n_steps=3, clip_alpha=False).fit(X_train, y_train)
    rows = unclipped.step_scores().query("not probe")
    assert rows["fallback"].tolist() == [False, True, True]
    assert (rows["valid_acc"].iloc[1:] < rows["valid_acc"].iloc[0] - 0.2).all()
    assert unclipped.alphas_unclipped_[0] == chain.alphas_unclipped_[0]
    assert unclipped.alphas_.tolist() == [1.0, 1.0]
    assert unclipped.score(X_test, y_test) == first


def test_keep_step_best_returns_the_network_that_validated_best(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    params = dict(alpha=0.0, n_steps=3)  # the teacher alone: each step validates worse
    last = digits_net(**params).fit(X_train, y_train)
    best = digits_net(keep_step="best", **params).fit(X_train, y_train)
    assert last.best_step_ == best.best_step_ == 1
    first = digits_net(n_steps=1).fit(X_train, y_train)
    assert same_weights(weights(best.module_), weights(first.module_))
    assert best.score(X_test, y_test) > last.score(X_test, y_test)
    assert first.best_step_ == 1 and make_net(validation_fraction=None).fit(
        X_train.reshape(len(X_train), -1), y_train).best_step_ is None
    with pytest.raises(ValueError, match="keep_step='best' needs validation data"):
        digits_net(alpha=0.5, keep_step="best", validation_fraction=None).fit(X_train, y_train)
    with pytest.raises(ValueError, match="keep_step must be 'last' or 'best'"):
        digits_net(keep_step="first").fit(X_train, y_train)


# ------------------------------------------------------------------ batches
def test_batches_cut_with_one_index_train_as_skorch_collates_them(data):
    from torch.utils.data import default_collate

    X, y = data
    fast = make_net(alpha=0.5, batch_size=16).fit(X, y)
    # A collate_fn of the user's sends the data through skorch's per-sample loader.
    collated = make_net(alpha=0.5, batch_size=16, iterator_train__collate_fn=default_collate,
                        iterator_valid__collate_fn=default_collate).fit(X, y)
    assert same_weights(weights(fast.module_), weights(collated.module_))
    assert [row["train_batch_count"] for row in fast.history] == [7] * 4
    assert fast.history[:, "valid_loss"] == collated.history[:, "valid_loss"]
    drop = dict(alpha=0.5, batch_size=16, iterator_train__drop_last=True)
    fast = make_net(**drop).fit(X, y)
    collated = make_net(iterator_train__collate_fn=default_collate, **drop).fit(X, y)
    assert same_weights(weights(fast.module_), weights(collated.module_))
    assert [row["train_batch_count"] for row in fast.history] == [6] * 4
    unshuffled = make_net(alpha=0.5, batch_size=16, iterator_train__shuffle=False).fit(X, y)
    assert not same_weights(weights(fast.module_), weights(unshuffled.module_))


def test_chain_state_saves_and_loads_itself(tmp_path):
    from selfdistill_sklearn.neural.checkpoint import (
        ChainState,
        cpu_state,
        load_state,
        save_state,
    )

    state = ChainState(fingerprint="abc", seed=7)
    module = nn.Linear(3, 2)
    state.complete_network(cpu_state(module), valid_score=0.5)
    state.record_estimate(1.7, clip=True)
    state.complete_network(cpu_state(module), alpha=state.pending_alpha,
                           unclipped=state.pending_unclipped, valid_score=0.5)
    state.record_fit(3, [{"epoch": 1, "loss": np.float32(0.25)}])
    save_state(state, tmp_path / "state.pt")
    loaded = load_state(tmp_path / "state.pt")
    assert loaded.history == [{"epoch": 1, "loss": 0.25}] and loaded.completed_fits == 3
    assert (loaded.alphas, loaded.alphas_unclipped, loaded.seed) == ([1.0], [1.7], 7)
    assert same_weights(loaded.teacher_state, module.state_dict())
    assert same_weights(loaded.first_state, module.state_dict())
