r"""Sphinx configuration of the :mod:`pyg_gas` documentation.

Build it with ``python -m sphinx -b html docs docs/_build/html`` (after
``pip install -e '.[docs]'``). The build reads nothing from the network:
there is no intersphinx mapping, and references to PyTorch and PyG objects
stay plain text.
"""
import datetime
import importlib.util
import os
import sys

sys.path.insert(0, os.path.abspath('..'))

import pyg_gas  # noqa: E402

project = 'pyg_gas'
author = 'pyg_gas contributors'
copyright = f'{datetime.date.today().year}, {author}'
version = pyg_gas.__version__
release = pyg_gas.__version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.autosummary',
    'sphinx.ext.napoleon',
    'sphinx.ext.mathjax',
    'sphinx.ext.viewcode',
    'myst_parser',
]

source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build']
templates_path: list = []

# The docstrings are PyG's: Google style ``Args:``/``Returns:`` sections
# read by napoleon, ``:obj:`` for inline code.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_custom_sections = ['Shapes']
autodoc_member_order = 'bysource'
autodoc_typehints = 'signature'
autodoc_default_options = {'show-inheritance': False}
autodoc_inherit_docstrings = False
autosummary_generate = False
add_module_names = False

# MathJax is loaded by the reader's browser; the build itself stays offline.
mathjax3_config = {'tex': {'inlineMath': [['\\(', '\\)']]}}

# Markdown guide pages: ``#`` anchors for headings down to level 3, as
# GitHub renders them, so links like ``out_of_core.md#5-measured`` resolve.
myst_heading_anchors = 3
myst_enable_extensions = ['dollarmath']

html_title = f'pyg_gas {release}'
if importlib.util.find_spec('furo') is not None:
    html_theme = 'furo'
else:  # Sphinx's built-in theme, when furo is not installed.
    html_theme = 'alabaster'
html_static_path: list = []
