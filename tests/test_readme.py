r"""The README's code blocks run as written.

Every ``python`` block is executed, each on its own in a fresh namespace (the
blocks are independent: each imports what it uses and loads its own data).
Every ``bash`` block is checked line by line without being run: ``pyg-gas``
commands are parsed by the command's own parser (and ``train`` commands
resolved into a :class:`~pyg_gas.train.TrainConfig`), ``pip install`` names
extras that :obj:`pyproject.toml` defines, example scripts exist and take the
options given, and the test command is the one :obj:`.ci/run` runs. A
``pyg-gas train ... --print-config > FILE`` line does run, and writes FILE,
which a later line may read with ``--config FILE``.
"""
import contextlib
import io
import os.path as osp
import re
import shlex
from typing import List, Tuple

import pytest
import torch

ROOT = osp.join(osp.dirname(__file__), '..')
README = osp.join(ROOT, 'README.md')


def read_readme() -> str:
    with open(README) as f:
        return f.read()


def code_blocks(language: str) -> List[Tuple[int, str]]:
    r"""The fenced code blocks of :obj:`language` in the README, with the
    line number each starts at."""
    text = read_readme()
    return [(text.count('\n', 0, m.start()) + 1, m.group(1)) for m in
            re.finditer(rf'^```{language}\n(.*?)^```', text, re.S | re.M)]


def section(heading: str) -> str:
    r"""The README's text from :obj:`heading` to the next heading of its
    level."""
    text = read_readme()
    start = text.index(heading + '\n')
    level = heading.split(' ')[0]
    end = text.find(f'\n{level} ', start + len(heading))
    return text[start:end if end >= 0 else None]


PYTHON = code_blocks('python')
BASH = code_blocks('bash')


def test_readme_has_code_blocks():
    assert len(PYTHON) >= 2
    assert len(BASH) >= 5


@pytest.mark.parametrize('line,code', PYTHON, ids=[f'line{n}' for n, _ in
                                                   PYTHON])
def test_python_block_runs(line, code):
    scope: dict = {'__name__': '__readme__'}
    torch.manual_seed(0)
    exec(compile('\n' * (line) + code, 'README.md', 'exec'), scope)
    # Both blocks train one epoch on Cora and end with the whole graph's
    # predictions 'out'.
    out, data = scope['out'], scope['data']
    assert out.shape == (data.num_nodes, data.num_classes) == (2708, 7)
    assert bool(torch.isfinite(out).all())
    # One epoch (4 steps) trained it above the 1/7 of a random guess on the
    # test nodes (GCN 0.55 with this seed, GASConv-wrapped SAGE + GAT 0.72).
    pred = out.argmax(dim=-1)
    acc = float((pred[data.test_mask] == data.y[data.test_mask]).float()
                .mean())
    assert acc > 0.2, acc


def ci_command() -> str:
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1]


def test_quick_start_is_two_one_line_commands():
    blocks = re.findall(r'```bash\n(.*?)```', section('## Quick start'),
                        re.S)
    assert len(blocks) == 2
    assert all(block.count('\n') == 1 for block in blocks), blocks
    train, tests = (block.strip() for block in blocks)
    assert train.startswith('pip install') and train.endswith(
        '&& pyg-gas train')
    # The second one is exactly what CI runs.
    assert tests == ci_command()


def extras() -> set:
    tomllib = pytest.importorskip('tomllib')  # Python >= 3.11
    with open(osp.join(ROOT, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    return set(project['optional-dependencies'])


def check_pip(args: List[str]) -> None:
    assert args[:2] == ['pip', 'install'], args
    targets = [a for a in args[2:] if a not in ('-q', '-e')]
    assert targets, args
    for target in targets:
        if target.startswith('.'):  # The package itself, with extras.
            match = re.fullmatch(r'\.(?:\[([\w,-]+)\])?', target)
            assert match is not None, target
            for extra in filter(None, (match.group(1) or '').split(',')):
                assert extra in extras(), (extra, extras())
        else:
            assert re.fullmatch(r'[A-Za-z0-9_.-]+(==[\w.+]+)?', target), target


def check_pyg_gas(argv: List[str]) -> None:
    from pyg_gas.cli import build_parser, config_from_args
    try:
        args = build_parser(argv).parse_args(argv)
    except SystemExit as e:  # argparse's way to report a bad command line.
        raise AssertionError(f"'pyg-gas {' '.join(argv)}' does not parse "
                             f'(exit status {e.code})') from e
    if args.command == 'train':
        config_from_args(args)  # Raises on values it does not accept.


def check_python(args: List[str]) -> None:
    if args[1:3] == ['-m', 'pytest']:
        return  # Part of the CI command, compared with .ci/run.
    if args[1:3] == ['-m', 'sphinx']:  # python -m sphinx -b html SRC OUT
        assert osp.isfile(osp.join(ROOT, args[-2], 'conf.py')), args
        return
    script = osp.join(ROOT, args[1])
    assert osp.isfile(script), args[1]
    with open(script) as f:
        source = f.read()
    for option in (a for a in args[2:] if a.startswith('--')):
        assert f"'{option}'" in source, (args[1], option)


def check_command(args: List[str]) -> None:
    if args[0] == 'torchrun':  # torchrun [options] $(which pyg-gas) ARGS
        args = args[args.index('pyg-gas'):]
    if args[0] == 'pip':
        check_pip(args)
    elif args[0] == 'pyg-gas':
        check_pyg_gas(args[1:])
    elif args[0] == 'python':
        check_python(args)
    elif args[0] == 'ruff':
        assert args == ['ruff', 'check', '.'], args
    else:
        raise AssertionError(f"no check for the command '{args[0]}'")


def write_printed_config(argv: List[str], path: str) -> None:
    # 'pyg-gas train ... --print-config > FILE' writes FILE, which a later
    # line of the block may read with --config.
    from pyg_gas.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0, argv
    with open(path, 'w') as f:
        f.write(out.getvalue())


@pytest.mark.parametrize('line,code', BASH, ids=[f'line{n}' for n, _ in BASH])
def test_bash_block_is_valid(line, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Where the block's files are written.
    for text in code.splitlines():
        text = text.replace('$(which pyg-gas)', 'pyg-gas')
        tokens = shlex.split(text, comments=True)
        commands: List[List[str]] = [[]]
        redirect = None
        for token in tokens:
            if token == '&&':
                commands.append([])
            elif token in ('>', '2>'):  # The next token is the file.
                redirect = token
            elif redirect is not None:
                if redirect == '>' and '--print-config' in commands[-1]:
                    write_printed_config(commands[-1][1:], token)
                redirect = None
            else:
                commands[-1].append(token)
        for args in commands:
            if args:
                check_command(args)


def test_inline_pip_commands_name_defined_extras():
    # The prose names extras too: pip install -e '.[ogb]', ... '.[bench]'.
    text = read_readme()
    commands = re.findall(r'`(pip install [^`]*)`', text)
    assert len(commands) >= 3, commands
    for command in commands:
        check_pip(shlex.split(command))
