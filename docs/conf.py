"""Sphinx configuration of gilfree's tutorial.

The pages are Markdown (MyST); the API reference is read from the docstrings by autodoc, so
gilfree must be importable (``python -m pip install ".[docs]"`` from the checkout installs both).
Every table and plot the pages show is written by ``docs/generate.py`` into ``docs/_generated/``
from a real run and committed; the build only reads them. ``.ci/docs`` builds with warnings as
errors (``sphinx-build -W --keep-going -n``).

No intersphinx: CI has no network but the package index, so the inventories of python.org and
numpy could not be fetched. The build is nitpicky all the same, for gilfree's own public names:
a reference to ``gilfree.<module>.<name>`` that no longer exists fails it. What it cannot resolve
offline (the standard library, numpy) and what the reference leaves out on purpose (private
modules, type variables, names a docstring gives without their module) is listed in
``nitpick_ignore_regex`` below.
"""

from __future__ import annotations

import gilfree

project = "gilfree"
author = "The gilfree developers"
copyright = "the gilfree developers"  # noqa: A001 - Sphinx's own name for it
release = gilfree.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# _generated/ holds files that pages include, never pages of their own; examples/ holds scripts.
exclude_patterns = ["_build", "_generated", "examples", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc: members in source order, signatures with their types as written.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# The table on the API page lists; it generates no stub pages (nothing is written into docs/).
autosummary_generate = False

html_theme = "furo"
html_title = f"gilfree {release}"
html_static_path: list[str] = []
# The pages name the build's date nowhere: _generated/environment.md says when the figures were made.
html_last_updated_fmt = None

# A method that overrides concurrent.futures.Executor's without a docstring of its own would
# show the standard library's, written for pydoc rather than reStructuredText.
autodoc_inherit_docstrings = False

nitpicky = True
nitpick_ignore_regex = [
    # The standard library, numpy and the other packages: no inventory offline (see above).
    (r"py:.*", r"(?!gilfree\b).*"),
    # Private modules and names (gilfree._batching, gilfree.pool._T) and type variables.
    (r"py:.*", r"gilfree(\.\w+)*\._\w*(\..*)?"),
    (r"py:class", r"gilfree(\.\w+)*\.[A-Z]"),  # T, R: one capital letter
    # The selector modules (gilfree.cpu, .arrays, .bytebuf) re-export the chosen twin's names,
    # which the API documents where users import them: from gilfree.
    (r"py:.*", r"gilfree\.(cpu|arrays|bytebuf)\.\w+"),
]
# Dataclass fields that carry no docstring of their own (their class's docstring names them).
nitpick_ignore = [("py:attr", "gilfree.registry.Capabilities.uses")]
