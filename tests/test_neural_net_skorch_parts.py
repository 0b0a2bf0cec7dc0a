"""SelfDistilledNeuralNet as skorch users use a NeuralNetClassifier.

initialize() before fit, skorch's usual classifier module (ending in
nn.Softmax), accelerate's mixin, and the skorch parameters the chain
replaces: each either skorch's behaviour or an error that names it.
"""

from unittest.mock import Mock

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skorch.dataset import Dataset  # noqa: E402
from skorch.history import History  # noqa: E402
from skorch.toy import make_classifier  # noqa: E402
from torch import nn  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.networks import MLP  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 6).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


def make_net(**params):
    # A fixed weight unless a test sets one: the default alpha-hat needs validation data.
    defaults = dict(alpha=0.5, lr=0.05, max_epochs=2, batch_size=32, random_state=0,
                    verbose=0, device="cpu")
    if "module" not in params:
        defaults.update(module=MLP, module__hidden_layer_sizes=(8,))
    defaults.update(params)
    return SelfDistilledNeuralNet(**defaults)


def softmax_module():
    return make_classifier(input_units=6, hidden_units=8, num_hidden=1, dropout=0.0)


def weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ------------------------------------------------------------ initialize()
def test_initialize_before_fit_then_load_params_into_a_new_net(data, tmp_path):
    X, y = data
    fitted = make_net(module=softmax_module(), alpha=0.5, n_steps=2).fit(X, y)
    fitted.save_params(f_params=tmp_path / "params.pt")
    fresh = make_net(module=softmax_module(), classes=[0, 1]).initialize()
    assert fresh.initialized_ and isinstance(fresh.module_, nn.Module)
    fresh.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(fresh.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(fresh.predict(X), fitted.predict(X))
    # Without classes, predict gives skorch's class indices.
    indices = make_net(module=softmax_module()).initialize()
    indices.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(indices.predict(X), fitted.predict_proba(X).argmax(axis=1))


def test_initialize_before_fit_says_what_a_network_needs(data):
    with pytest.raises(ValueError, match=r"needs input_shape.*image_shape or "
                       r"module__input_shape"):
        make_net(classes=[0, 1]).initialize()
    with pytest.raises(ValueError, match="set image_shape and classes"):
        make_net(module="resnet18").initialize()
    # With what it needs, our own MLP initialises too.
    net = make_net(classes=[0, 1], module__input_shape=(6,)).initialize()
    assert net.module_(torch.zeros(2, 6)).shape == (2, 2)


# ------------------------------------------------------ nn.Softmax modules
def test_a_module_ending_in_softmax_is_detected_not_softmaxed_twice(data):
    X, y = data
    net = make_net(module=softmax_module(), alpha=0.5, max_epochs=20).fit(X, y)
    assert net.outputs_probabilities_
    proba = net.predict_proba(X)
    # The module's own probabilities, not a second softmax squeezed towards 1/2.
    net.module_.eval()
    with torch.no_grad():
        own = net.module_(torch.from_numpy(X)).double().numpy()
    np.testing.assert_allclose(proba, own, rtol=1e-5, atol=1e-7)
    assert proba.max() > 0.9 and net.score(X, y) > 0.9
    assert not make_net().fit(X, y).outputs_probabilities_


# --------------------------------------------------------------- criterion
@pytest.mark.parametrize(("params", "match"), [
    (dict(criterion=nn.CrossEntropyLoss), "criterion must be SelfDistillationLoss"),
    (dict(criterion=nn.NLLLoss), "criterion must be SelfDistillationLoss"),
    (dict(criterion__weight=torch.tensor([1.0, 2.0])), "criterion__weight is not used"),
])
def test_another_criterion_or_its_parameters_are_refused_by_name(data, params, match):
    with pytest.raises(ValueError, match=match):
        make_net(**params).fit(*data)


# -------------------------------------------------------------- accelerate
def test_accelerate_mixin_trains_whole_batches_as_the_plain_net(data):
    pytest.importorskip("accelerate")
    from accelerate import Accelerator
    from skorch.hf import AccelerateMixin

    class AcceleratedNet(AccelerateMixin, SelfDistilledNeuralNet):
        pass

    X, y = data
    plain = make_net(alpha=0.5, n_steps=2).fit(X, y)
    accelerated = AcceleratedNet(MLP, accelerator=Accelerator(cpu=True),
                                 module__hidden_layer_sizes=(8,), lr=0.05, max_epochs=2,
                                 batch_size=32, random_state=0, verbose=0, device=None,
                                 alpha=0.5, n_steps=2).fit(X, y)
    assert [row["train_batch_count"] for row in accelerated.history] == [4] * 4
    np.testing.assert_allclose(accelerated.predict_proba(X), plain.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------- refused by name
def test_a_dict_of_inputs_is_refused_naming_x(data):
    X, y = data
    with pytest.raises(TypeError, match="X must be an array, not a dict"):
        make_net().fit({"x": X}, y)
    with pytest.raises(TypeError, match="X_val must be an array, not a dict"):
        make_net().fit(X, y, X_val={"x": X}, y_val=y)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_a_bad_batch_size_is_named(data, batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, or -1"):
        make_net(batch_size=batch_size).fit(*data)


def test_whole_data_batches_with_minus_one(data):
    net = make_net(batch_size=-1).fit(*data)
    assert all(row["train_batch_count"] == 1 for row in net.history)


def test_mock_callbacks_and_iterators_are_fingerprinted_without_recursion(data, tmp_path):
    X, y = data
    callback = Mock()
    net = make_net(callbacks=[("mock", callback)], checkpoint_dir=tmp_path).fit(X, y)
    assert callback.on_train_begin.call_count == 2  # once a network
    # A Mock iterator is called as skorch calls it; what it returns is not a loader.
    with pytest.raises(TypeError, match="not iterable"):
        make_net(iterator_train=Mock(), checkpoint_dir=tmp_path).fit(X, y)
    assert net.n_fits_ == 2


def test_history_dataset_and_module_parameters_of_an_instance_are_refused(data):
    X, y = data
    with pytest.raises(TypeError, match="history is not a parameter"):
        make_net(history=History())

    class MyDataset(Dataset):
        pass

    with pytest.raises(ValueError, match="dataset=.*MyDataset.* is not used"):
        make_net(dataset=MyDataset).fit(X, y)
    with pytest.raises(ValueError, match="dataset__length is not used"):
        make_net(dataset__length=3).fit(X, y)
    with pytest.raises(ValueError, match="module__hidden_layer_sizes needs a module class"):
        make_net(module=MLP((6,), 2), module__hidden_layer_sizes=(4,)).fit(X, y)
    # An instance alone is copied and re-initialised for every step.
    instance = SelfDistilledNeuralNet(MLP((6,), 2), alpha=0.5, max_epochs=1, verbose=0,
                                      device="cpu")
    assert instance.fit(X, y).n_fits_ == 2
