"""Arrays of other libraries (torch, CuPy, ...) through the array API standard.

With scikit-learn's ``array_api_dispatch`` on, the primal estimators compute in
the namespace and on the device of ``X`` (scikit-learn's rule: everything
follows ``X``): the feature map, the moments, the ``m x m`` algebra, the
fitted attributes and the predictions. ``y`` and ``sample_weight`` may come
from another namespace or device; they are checked as NumPy arrays (``n``
numbers, a small transfer) and moved to ``X``'s. The computation is in
float64 wherever the device has it (float32 input too, as NumPy input is
cast), else in float32.

Built on the public ``array-api-compat``; NumPy input, or dispatch off, never
reaches this module's conversions.
"""

import array_api_compat
import numpy as np
from sklearn import get_config
from sklearn.utils import get_tags

__all__ = [
    "Namespace",
    "check_feature_map_support",
    "check_same_namespace",
    "coefficient_rows",
    "feature_map_supports_array_api",
    "follow_fit",
    "follow_x",
    "namespace_of",
    "swap_last_axes",
    "to_numpy",
    "training_data",
    "zeros_like",
]


class Namespace:
    """The namespace, device and floating dtype of a fit.

    Attributes
    ----------
    xp : module
        The array-api-compat namespace.
    device : object
    dtype : dtype
        ``xp.float64`` where the device has it, else ``xp.float32``.
    """

    def __init__(self, xp, device):
        self.xp, self.device = xp, device
        try:
            dtypes = xp.__array_namespace_info__().dtypes(device=device)
            self.dtype = dtypes["float64"] if "float64" in dtypes else xp.float32
        except (AttributeError, TypeError):  # pragma: no cover - an older library
            self.dtype = xp.float64

    @property
    def name(self):
        return self.xp.__name__

    def asarray(self, array, dtype=None):
        """``array`` (NumPy, a Python number or this namespace's) in this
        namespace, on this device, in ``dtype`` (the fit's float by default)."""
        xp = self.xp
        dtype = self.dtype if dtype is None else dtype
        if isinstance(array, np.ndarray) or np.isscalar(array):
            array = np.asarray(array, dtype=np.float64 if dtype == self.dtype else None)
            return xp.asarray(array, dtype=dtype, device=self.device)
        try:
            same = array_api_compat.array_namespace(array) is xp
        except TypeError:
            same = False
        if not same:
            return xp.asarray(to_numpy(array), dtype=dtype, device=self.device)
        return xp.asarray(array_api_compat.to_device(array, self.device), dtype=dtype)

    def __eq__(self, other):
        return (isinstance(other, Namespace) and other.xp is self.xp
                and other.device == self.device)

    def __hash__(self):  # pragma: no cover - not used as a key
        return hash(self.name)

    def __getstate__(self):
        return {"xp": self.name, "device": self.device, "dtype": str(self.dtype)}

    def __setstate__(self, state):
        import importlib

        self.xp = importlib.import_module(state["xp"])
        self.device = state["device"]
        self.dtype = getattr(self.xp, state["dtype"].rpartition(".")[2].split("'")[0])


def namespace_of(X):
    """The :class:`Namespace` of ``X`` when ``array_api_dispatch`` is on and ``X``
    is an array of another library than NumPy; ``None`` otherwise (the NumPy
    path, unchanged)."""
    if not get_config().get("array_api_dispatch", False):
        return None
    if (isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X)
            or array_api_compat.is_dask_array(X)):  # dask arrays have their own path
        return None
    xp = array_api_compat.array_namespace(X)
    if array_api_compat.is_numpy_namespace(xp):
        return None
    return Namespace(xp, array_api_compat.device(X))


def to_numpy(array):
    """A NumPy copy (or view) of an array of any namespace or device."""
    if array is None or isinstance(array, (np.ndarray, np.generic, float, int)):
        return array
    if array_api_compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(array):
        return array.get()
    if array_api_compat.is_array_api_obj(array):
        try:
            return np.from_dlpack(array)
        except (AttributeError, TypeError, RuntimeError, BufferError, ValueError):
            pass
    return np.asarray(array)


def feature_map_supports_array_api(feature_map):
    """Whether ``feature_map`` declares array API support: ``None`` (the columns
    of ``X``) does, a Pipeline when every step does, another map when its
    ``array_api_support`` tag says so."""
    if feature_map is None:
        return True
    steps = getattr(feature_map, "steps", None)
    if isinstance(steps, list):
        return all(feature_map_supports_array_api(step) for _, step in steps
                   if step not in (None, "passthrough"))
    try:
        return bool(get_tags(feature_map).array_api_support)
    except (AttributeError, TypeError, ValueError):
        return False


def check_feature_map_support(feature_map, namespace):
    """Refuse a feature map without array API support for input of another
    namespace than NumPy."""
    if namespace is not None and not feature_map_supports_array_api(feature_map):
        raise TypeError(
            f"feature_map={feature_map!r} does not support the array API (its "
            "array_api_support tag is False), but X is a "
            f"{namespace.name} array and array_api_dispatch is on: use a map that supports "
            "it (Nystroem, StandardScaler, PolynomialFeatures, or a Pipeline of them), pass "
            "NumPy arrays, or turn array_api_dispatch off."
        )


def training_data(estimator, X, y, sample_weight, namespace, reset=True, batch=False):
    """Checked training data of another namespace than NumPy: ``X`` as
    scikit-learn's ``validate_data`` checks it (in its namespace; ``reset``
    as there), ``y`` and ``sample_weight`` checked as NumPy arrays, as for
    NumPy input (``batch`` as in partial_fit: weights may all be zero), then
    moved to ``X``'s namespace and device.

    Returns
    -------
    X, Y (shape (n, k)), sample_weight, and the number of dimensions of ``y``.
    """
    from sklearn.utils.validation import check_array, validate_data

    from ._incremental import check_weights

    check_feature_map_support(estimator.feature_map, namespace)
    X = validate_data(estimator, X, reset=reset)
    y = check_array(to_numpy(y), ensure_2d=False, dtype=np.float64, input_name="y")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_targets), got "
                         f"{y.shape}.")
    if y.shape[0] != X.shape[0]:
        raise ValueError("Found input variables with inconsistent numbers of samples: "
                         f"[{X.shape[0]}, {y.shape[0]}]")
    if sample_weight is not None and not np.isscalar(sample_weight):
        sample_weight = to_numpy(sample_weight)
    sample_weight = check_weights(sample_weight, X.shape[0], batch)
    Y = namespace.asarray(y.reshape(X.shape[0], -1))
    if sample_weight is not None:
        sample_weight = namespace.asarray(sample_weight)
    return X, Y, sample_weight, y.ndim


def follow_x(namespace, arrays):
    """``arrays`` (a tuple) moved to ``namespace``; unchanged without one."""
    if namespace is None:
        return arrays
    return tuple(namespace.asarray(array) for array in arrays)


def swap_last_axes(array):
    """``array`` of shape (T, m, k) as (T, k, m), in its namespace."""
    if isinstance(array, np.ndarray):
        return array.transpose(0, 2, 1)
    return array_api_compat.array_namespace(array).permute_dims(array, (0, 2, 1))


def zeros_like(array):
    if isinstance(array, np.ndarray):
        return np.zeros_like(array)
    return array_api_compat.array_namespace(array).zeros_like(array)


def coefficient_rows(coef, intercept, n_features, n_rows=None):
    """``coef`` as (k, m) (or (T, k, m) with ``n_rows=T``) and ``intercept``
    broadcast to (k,) (or (T, k)), in the namespace of ``coef``."""
    if isinstance(coef, np.ndarray):
        shape = (-1, n_features) if n_rows is None else (n_rows, -1, n_features)
        coef = np.reshape(coef, shape)
        if n_rows is None:
            intercept = np.asarray(intercept, dtype=float)
            if intercept.ndim > 1:
                intercept = intercept.reshape(-1)
            return coef, np.broadcast_to(intercept, coef.shape[:1])
        return coef, np.broadcast_to(np.reshape(np.asarray(intercept, dtype=float),
                                                (n_rows, -1)), coef.shape[:2])
    xp = array_api_compat.array_namespace(coef)
    shape = (-1, n_features) if n_rows is None else (n_rows, -1, n_features)
    coef = xp.reshape(coef, shape)
    if isinstance(intercept, float):
        intercept = xp.asarray(intercept, dtype=coef.dtype, device=array_api_compat.device(coef))
    if n_rows is not None:
        intercept = xp.reshape(intercept, (n_rows, -1))
    elif intercept.ndim > 1:
        intercept = xp.reshape(intercept, (-1,))
    return coef, xp.broadcast_to(intercept, coef.shape[:-1])


def check_same_namespace(namespace, X, method):
    """Refuse ``X`` of another namespace or device than the fit's, naming
    ``method`` (``"SelfDistilledRidge.predict"``)."""
    given = namespace_of(X)
    if given == namespace:
        return
    fitted = "NumPy arrays" if namespace is None else (
        f"{namespace.name} arrays on device {namespace.device!r}")
    got = "a NumPy array (or array_api_dispatch is off)" if given is None else (
        f"a {given.name} array on device {given.device!r}")
    raise ValueError(
        f"{method}() was given {got}, but the model was fitted on {fitted}: inputs must use "
        "the same namespace and device as in fit (with array_api_dispatch as in fit)."
    )


def follow_fit(namespace, array):
    """A NumPy result moved to the fit's namespace (unchanged for NumPy fits)."""
    return array if namespace is None or array is None else namespace.asarray(array)
