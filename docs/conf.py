r"""Sphinx configuration of the :mod:`pyg_gas` documentation.

Build it with ``python -m sphinx -b html docs docs/_build/html`` (after
``pip install -e '.[docs]'``). The build reads nothing from the network:
there is no intersphinx mapping, and references to PyTorch and PyG objects
stay plain text.
"""
import dataclasses
import datetime
import importlib.util
import os
import re
import sys

# The package of this checkout, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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


def _rst(text: str) -> str:
    # A help text as reStructuredText: options as inline literals, the rest
    # with its markup characters escaped.
    parts = re.split(r'(--[a-z][a-z0-9-]*)', text)
    return ''.join(f'``{part}``' if i % 2 else
                   re.sub(r'([\\*`|_])', r'\\\1', part)
                   for i, part in enumerate(parts))


def _help(field: dataclasses.Field) -> str:
    # The command's help points below, to the epilog that --help prints.
    return field.metadata['help'].replace('; the list is below', '')


def document_fields(app, what, name, obj, options, lines) -> None:
    r"""Lists the fields of a dataclass whose fields carry a ``help`` text
    (:class:`pyg_gas.train.TrainConfig`) as its parameters, each with its
    ``pyg-gas train`` option, so the reference documents every option."""
    if what != 'class' or not dataclasses.is_dataclass(obj):
        return
    documented = [f for f in dataclasses.fields(obj) if 'help' in f.metadata
                  and not any(line.startswith(f':param {f.name}:')
                              for line in lines)]
    if not documented:
        return
    lines.append('')
    for f in documented:
        option = '--' + f.name.replace('_', '-')
        if 'bool' in str(f.type):
            option += f'``/``--no-{option[2:]}'
        lines.append(f':param {f.name}: {_rst(_help(f))} '
                     f'(``{option}``)')
    lines.append('')


def _lookup(name: str):
    # The object a dotted name imports, or None.
    parts = name.split('.')
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ImportError:
            continue
        try:
            for part in parts[i:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def resolve_short_name(app, env, node, contnode):
    r"""A docstring names a public class or function by its short name
    (``:class:`SubgraphLoader```) or by its defining module
    (``pyg_gas.loader.subgraph.SubgraphLoader``), while the reference
    documents it once, under the name users import it by
    (``pyg_gas.loader.SubgraphLoader``). Such a reference, when Sphinx could
    not resolve it, links to the one documented object of that name (for a
    dotted name, only if it is the same object). Other roles (``:obj:``
    marks argument names), references outside :mod:`pyg_gas` and ambiguous
    names stay plain."""
    from sphinx.util.nodes import make_refnode

    target = node.get('reftarget', '')
    if (node.get('refdomain') != 'py'
            or node.get('reftype') not in ('class', 'func', 'exc')
            or not ('.' not in target or target.startswith('pyg_gas.'))):
        return None
    short = target.rsplit('.', 1)[-1]
    objects = env.domains['py'].objects
    matches = [name for name, entry in objects.items()  # ':canonical:'
               if name.rsplit('.', 1)[-1] == short and not entry.aliased]
    if len(matches) != 1:
        return None
    if '.' in target and (_lookup(target) is None
                          or _lookup(target) is not _lookup(matches[0])):
        return None
    entry = objects[matches[0]]
    return make_refnode(app.builder, node['refdoc'], entry.docname,
                        entry.node_id, contnode, matches[0])


def setup(app) -> None:
    app.connect('autodoc-process-docstring', document_fields)
    app.connect('missing-reference', resolve_short_name)
