"""Sphinx configuration of fastnn's documentation (``.ci/docs`` builds it with ``-W``)."""
import os
import sys

sys.path.insert(0, os.path.abspath("_ext"))

import fastnn  # noqa: E402

project = "fastnn"
author = "fastnn contributors"
release = version = getattr(fastnn, "__version__", "")
copyright = "fastnn contributors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "fastnn_api",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# search.md is included by tuning.md: a page named "search" would replace Sphinx's search page
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "search.md"]

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 4

autodoc_member_order = "bysource"
autodoc_typehints = "none"                 # signatures come from the code; types live in the .pyi stubs
autodoc_inherit_docstrings = True
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_ivar = True
napoleon_use_param = False
napoleon_use_rtype = False
nitpicky = True

html_theme = "furo"
html_title = f"fastnn {release}".strip()
html_static_path = []
suppress_warnings = ["myst.xref_ambiguous"]
napoleon_custom_sections = ["Shape", "Shapes"]

# Broken cross-references fail the build (nitpicky), except targets that are not Python names
# at all: prose written in a docstring's type slot ("float in (0, 1)", "(k,) rows orthonormal")
# and the private base classes that ``:show-inheritance:`` names.
nitpick_ignore_regex = [
    (r"py:.*", r".*[\s(){}\[\],'\"<>=+*/-].*"),      # prose, shapes, literals
    (r"py:.*", r"[A-Za-z_]{1,2}|[0-9.e]+"),            # shape letters (N, C, H, W, k), numbers
    (r"py:(class|mod)", r"fastnn(\.\w+)*\._\w+(\.\w+)*"),   # private bases and modules
    (r"py:.*", r"(numpy|np)(\.\w+)*|dtype|array|ndarray"),         # NumPy (no intersphinx offline)
]
