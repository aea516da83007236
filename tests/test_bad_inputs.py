r"""Every bad input of the catalogue in ``scripts/bad_inputs.py`` gets a
clear error (or a correct handling): run the script for the whole table."""
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'scripts'))

import bad_inputs  # noqa: E402

pytestmark = pytest.mark.usefixtures('single_thread')


def _param(case: bad_inputs.Case):
    marks = []
    if case.slow:
        marks.append(pytest.mark.slow)
    if case.known:
        marks.append(pytest.mark.xfail(reason=case.known, strict=True))
    return pytest.param(case, id=case.label, marks=marks)


def test_catalogue_is_large_and_distinct():
    labels = [case.label for case in bad_inputs.CASES]
    assert len(labels) >= 140
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize('case', [_param(c) for c in bad_inputs.CASES])
def test_bad_input_is_clear_or_handled(case):
    text = bad_inputs.outcome(case)
    if text.startswith('skipped:'):
        pytest.skip(text)
    assert bad_inputs.is_fine(text), text
