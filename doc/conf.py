"""Sphinx configuration of the selfdistill_sklearn documentation.

Build (from the repository root, with ``pip install -e ".[doc]"``)::

    python -m sphinx -W --keep-going -b html doc doc/_build/html

``-W`` turns every warning into an error: a broken cross-reference, a
docstring that fails numpydoc validation and an example that raises each
fail the build.
"""

import re
import sys
import warnings
from pathlib import Path

import matplotlib
from sphinx.util import logging
from threadpoolctl import threadpool_limits

matplotlib.use("Agg")

DOC_DIR = Path(__file__).resolve().parent
_LOGGER = logging.getLogger(__name__)
sys.path.insert(0, str(DOC_DIR))

from api_reference import write_api_reference  # noqa: E402

import selfdistill_sklearn  # noqa: E402

write_api_reference(DOC_DIR)

# The examples run in this process on CI's two cores, on problems of a few
# hundred samples: threaded BLAS only adds contention there (a Cholesky
# factorisation of 265 x 265 took 40 times longer with two OpenBLAS threads
# on a busy two-core machine). Limit every loaded BLAS and OpenMP pool to one
# thread, now that numpy, scipy and scikit-learn are imported.
_THREAD_LIMITS = threadpool_limits(limits=1)
try:  # the network example: torch's own intra-op pool
    import torch
except ImportError:  # pragma: no cover - the doc extra installs torch
    pass
else:
    torch.set_num_threads(1)

# -- Project -----------------------------------------------------------------

project = "selfdistill_sklearn"
author = "The selfdistill_sklearn developers"
copyright = "The selfdistill_sklearn developers, BSD-3-Clause"  # noqa: A001
release = selfdistill_sklearn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "README_shortening.md", "**.ipynb_checkpoints"]
root_doc = "index"
default_role = "literal"

# -- Cross-references ----------------------------------------------------------

# Every reference must resolve: an unresolved :class:, :func:, :meth: ... is a
# warning, hence an error under -W.
nitpicky = True
# There is no network where the documentation is built (CI), so no
# intersphinx: references into the projects this package builds on render as
# code without a link, and only those are exempt from the check above.
nitpick_ignore_regex = [
    (r"py:.*", r"(sklearn|numpy|scipy|torch|torchvision|skorch|dask|distributed|"
               r"matplotlib|pandas|joblib)(\..*)?"),
    (r"py:.*", r"(np|pd|plt|da)\..*"),
]

# -- autodoc, autosummary, numpydoc -------------------------------------------

autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_member_order = "groupwise"


# The estimator API that a user calls; any other method a class overrides
# from scikit-learn, skorch or torch (skorch's hooks such as ``get_loss`` and
# ``train_step``, ``get_metadata_routing``, ``nn.Module.forward``) belongs to
# that library's extension API and is documented there.
ESTIMATOR_API = {
    "fit", "partial_fit", "predict", "predict_proba", "predict_log_proba",
    "decision_function", "transform", "fit_transform", "score", "staged_predict",
}


def _defined_outside(cls, name):
    return any(
        name in vars(base) and not base.__module__.startswith("selfdistill_sklearn")
        for base in cls.__mro__[1:]
        if base is not object
    )


def skip_foreign_members(app, what, name, obj, skip, options):
    """Document only the members this package defines for its users.

    Members inherited from scikit-learn (``get_params``, ``score``...), skorch
    (``NeuralNet``'s whole API) and torch are documented there; their
    docstrings are not this package's to validate. Overrides of another
    library's methods are skipped too, except the estimator API above.
    """
    if what != "class" or skip:
        return None
    target = getattr(obj, "fget", None) or getattr(obj, "__func__", None) or obj
    module = getattr(target, "__module__", None)
    if module is not None and not module.startswith("selfdistill_sklearn"):
        return True
    qualname = getattr(target, "__qualname__", "")
    owner_name = qualname.rsplit(".", 1)[0] if "." in qualname else None
    owner = getattr(sys.modules.get(module), owner_name, None) if owner_name else None
    if isinstance(owner, type) and name not in ESTIMATOR_API and _defined_outside(owner, name):
        return True
    return None


numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# scikit-learn's docstring checks (its maint_tools/test_docstrings.py): every
# numpydoc check except
#   GL01, GL02  where the summary starts relative to the quotes (style only);
#   RT02        the first line of Returns naming only the type (a returned
#               name says more, as in scikit-learn);
#   ES01, SA01, EX01  extended summary, See Also and Examples, which
#               scikit-learn requires of classes only, not of every method
#               and function: validate_class_sections below checks them for
#               every documented class.
# Kept, among others: GL08 (a public object without a docstring), PR01 (a
# parameter not documented), PR02 (a documented parameter that does not
# exist), PR03 (wrong order), PR07-PR10 (parameter type/description), RT01
# (no Returns section where the function returns), YD01 (no Yields section
# for a generator), SS* (summary line).
numpydoc_validation_checks = {"all", "GL01", "GL02", "RT02", "ES01", "SA01", "EX01"}

numpydoc_validation_exclude = {
    # Python's own methods of every exception, inherited by GridEdgeWarning.
    r"^selfdistill_sklearn\.GridEdgeWarning\.(add_note|with_traceback)$",
}

# -- sphinx-gallery ------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": str(DOC_DIR.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "doc_module": ("selfdistill_sklearn",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"selfdistill_sklearn": None},
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
    "show_signature": False,
    "download_all_examples": False,
    # An example that raises fails the build (the default, stated here).
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,
}

warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"selfdistill_sklearn {release}"
html_static_path = []
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
    "navigation_with_keys": False,
}
html_context = {"default_mode": "light"}

# MathJax is loaded by the reader's browser; nothing is fetched while building.
mathjax3_config = {"tex": {"macros": {"bm": ["\\boldsymbol{#1}", 1]}}}


_TYPE_LINE = re.compile(r"^(\s*\**[A-Za-z_][\w, ]*\s:\s)(.*)$")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def quote_fitted_names_in_types(app, what, name, obj, options, lines):
    """Quote fitted-attribute names in numpydoc type lines.

    ``feature_names_in_ : ndarray of shape (n_features_in_,)`` is the
    scikit-learn convention, but reStructuredText reads ``n_features_in_`` as
    a hyperlink reference; quoting it renders the type as written.
    """
    for i, line in enumerate(lines):
        match = _TYPE_LINE.match(line)
        if match:
            lines[i] = match.group(1) + _TRAILING_UNDERSCORE.sub(r"``\1``", match.group(2))


CLASS_CHECKS = {"ES01", "SA01", "EX01"}


def validate_class_sections(app, what, name, obj, options, lines):
    """Hold every documented class to scikit-learn's class-only checks."""
    if what != "class":
        return
    from numpydoc.validate import validate

    for code, message in validate(name)["errors"]:
        if code in CLASS_CHECKS:
            _LOGGER.warning("[numpydoc] %s: %s: %s", name, code, message,
                            location=(app.env.docname, None))


def setup(app):
    app.connect("autodoc-skip-member", skip_foreign_members)
    # Before numpydoc (priority 500) turns the sections into reST.
    app.connect("autodoc-process-docstring", quote_fitted_names_in_types, priority=400)
    app.connect("autodoc-process-docstring", validate_class_sections)
