"""In-memory data and per-epoch accuracy for skorch's training loop.

:class:`ArrayDataset` and :class:`BatchIndices` let a data loader cut each
batch of in-memory samples with one tensor index, in the very order that
skorch's per-sample loader would (a fifth of a small network's epoch went
into collating samples one at a time); :class:`EpochAccuracy` records the
accuracy of each epoch from the logits that training computed anyway.
"""

import numbers
import warnings

import torch
from skorch.callbacks import Callback, EpochTimer, PassthroughScoring, PrintLog, ProgressBar
from skorch.dataset import Dataset, unpack_data
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

__all__ = ["ArrayDataset", "BatchIndices", "EpochAccuracy", "WholeBatches", "batch_iterator",
           "default_callbacks", "whole_batch"]


class EpochAccuracy(Callback):
    """Records ``train_acc`` and ``valid_acc`` from the batches of an epoch.

    Keeps the argmax of the logits that training and validation computed
    anyway, so no second pass over the data is made, and compares them with
    the labels once the epoch ends (no synchronisation per batch). The
    training accuracy is therefore that of the (augmented) batches in
    training mode while the weights were changing, as is usual.
    """

    def on_epoch_begin(self, net, **kwargs):
        self.batches_ = {True: [], False: []}

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if y_pred is not None:
            self.batches_[bool(training)].append((y_pred.argmax(dim=1), unpack_data(batch)[1]))

    def on_epoch_end(self, net, **kwargs):
        for training, name in ((True, "train_acc"), (False, "valid_acc")):
            if self.batches_[training]:
                predicted = torch.cat([p for p, _ in self.batches_[training]])
                labels = torch.cat([y for _, y in self.batches_[training]])
                correct = (predicted == labels.to(predicted.device)).sum()
                net.history.record(name, int(correct) / len(predicted))
        # Release the epoch's tensors: kept, they would hold device memory and
        # make a net pickled on CUDA unloadable without a GPU.
        self.batches_ = {True: [], False: []}


class ArrayDataset(Dataset):
    """In-memory samples and encoded labels, indexed a whole batch at a time.

    A :class:`skorch.dataset.Dataset` (so that skorch's scoring callbacks
    find ``X`` and ``y``) whose items may be index lists: the data loader
    then cuts a batch with one tensor index instead of collating one sample
    at a time, which was a fifth of the time of a small network's epoch.
    """

    def __init__(self, X, y=None):
        super().__init__(X, y)
        with warnings.catch_warnings():
            # A read-only array is fine: batches are copies, nothing writes to it.
            warnings.filterwarnings("ignore", message=".*not writable", category=UserWarning)
            self.X_tensor = torch.from_numpy(X)
            self.y_tensor = (
                torch.zeros(len(X), dtype=torch.int64) if y is None else torch.from_numpy(y)
            )

    def __getitem__(self, index):
        return self.X_tensor[index], self.y_tensor[index]



class WholeBatches(TorchDataset):
    """An :class:`ArrayDataset` seen by a data loader with a batch sampler.

    The loader hands each batch's indices to ``__getitems__`` at once, which
    cuts the batch with one tensor index; :func:`whole_batch` is its collate
    function. A batch sampler, not ``batch_size=None``, so that wrappers of
    the loader (accelerate's) keep the batches whole.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index]

    def __getitems__(self, indices):
        return self.dataset[torch.as_tensor(indices)]


def whole_batch(batch):
    """The collate function of :class:`WholeBatches`: a batch already collated."""
    return batch


class BatchIndices(Sampler):
    """The index tensors of one epoch's batches, for ``ArrayDataset``.

    Shuffles as :class:`torch.utils.data.RandomSampler` draws its permutation
    (so a network trains on the very batches of skorch's per-sample loader)
    and cuts it into batches without a round trip through Python lists.
    """

    def __init__(self, n, batch_size, shuffle, drop_last=False, generator=None):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.drop_last, self.generator = drop_last, generator

    def __iter__(self):
        # A generator, as RandomSampler's: the draw comes at the first batch, after
        # the data loader has drawn its own seed.
        if not self.shuffle:
            order = torch.arange(self.n)
        else:
            generator = self.generator
            if generator is None:
                generator = torch.Generator()
                generator.manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
            order = torch.randperm(self.n, generator=generator)
        batches = order.split(self.batch_size)
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches = batches[:-1]
        yield from batches

    def __len__(self):
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)


def batch_iterator(net, dataset, training=False):
    """skorch's data loader for ``dataset``, fast for an :class:`ArrayDataset`.

    As skorch's ``get_iterator`` (``iterator_train__*`` / ``iterator_valid__*``
    routed), shuffling the training batches unless
    ``iterator_train__shuffle=False``; batches of an :class:`ArrayDataset`
    are cut with one index (:class:`BatchIndices`, :class:`WholeBatches`)
    unless a sampler or collate function of one's own is given.
    """
    prefix = "iterator_train" if training else "iterator_valid"
    iterator = net.iterator_train if training else net.iterator_valid
    kwargs = net.get_params_for(prefix)
    shuffle = kwargs.pop("shuffle", training)
    batch_size = kwargs.pop("batch_size", net.batch_size)
    if batch_size == -1:
        batch_size = len(dataset)
    if (
        isinstance(dataset, ArrayDataset) and iterator is DataLoader
        and not {"sampler", "batch_sampler", "collate_fn"} & kwargs.keys()
    ):
        batches = BatchIndices(len(dataset), batch_size, shuffle,
                           kwargs.pop("drop_last", False), kwargs.pop("generator", None))
        return DataLoader(WholeBatches(dataset), batch_sampler=batches,
                          collate_fn=whole_batch, **kwargs)
    return iterator(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)


def default_callbacks(verbose):
    """skorch's default callbacks of a classifier, with :class:`EpochAccuracy`.

    Parameters
    ----------
    verbose : int
        The net's ``verbose``: from 2, skorch's progress bar is added.

    Returns
    -------
    callbacks : list of (str, Callback)
        The epoch timer, the training and validation losses, the accuracy
        of each epoch and the printed log.
    """
    callbacks = [
        ("epoch_timer", EpochTimer()),
        ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ("valid_loss", PassthroughScoring(name="valid_loss")),
        ("accuracy", EpochAccuracy()),
        ("print_log", PrintLog()),
    ]
    if isinstance(verbose, numbers.Number) and verbose >= 2:
        callbacks.insert(-1, ("progress_bar", ProgressBar()))
    return callbacks
