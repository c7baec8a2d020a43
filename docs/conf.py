"""Sphinx configuration for the rustorch documentation.

Build (from the repository root; warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

The API pages are generated from the docstrings (autodoc, napoleon for the Google-style
``Args:``/``Returns:``/``Raises:`` sections, viewcode for links to the source). The build needs
no network and no theme package beyond Sphinx itself (alabaster ships with it).
"""
import os
import sys

# Document the checkout this file belongs to, installed or not.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
# Importing rustorch must not touch the user's compilation cache while the docs build.
os.environ.setdefault("RUSTORCH_COMPILATION_CACHE", "0")

project = "rustorch"
author = "the rustorch authors"
copyright = "the rustorch authors"
release = "0.1.0"
version = "0.1"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
root_doc = "index"
language = "en"

# Google-style docstrings only; keep signatures as written in the code.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
add_module_names = True
python_use_unqualified_type_names = True

html_theme = "alabaster"
html_title = "rustorch documentation"
html_theme_options = {
    "description": "PyTorch's API and numerics, compiled by JAX/XLA",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_static_path = []
