"""The kernel parameters that the kernel estimators share with ``KernelRidge``."""

from sklearn.metrics.pairwise import pairwise_kernels

__all__ = ["KernelMixin"]


class KernelMixin:
    """Kernel matrices from the parameters ``kernel``, ``gamma``, ``degree``,
    ``coef0`` and ``kernel_params``, as :class:`sklearn.kernel_ridge.KernelRidge`
    computes them, and the input tags that go with them (sparse input, and
    pairwise input for ``kernel="precomputed"``)."""

    def _get_kernel(self, X, Y=None):
        if callable(self.kernel):
            params = self.kernel_params or {}
        else:
            params = {"gamma": self.gamma, "degree": self.degree, "coef0": self.coef0}
        return pairwise_kernels(X, Y, metric=self.kernel, filter_params=True, **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.pairwise = self.kernel == "precomputed"
        return tags
