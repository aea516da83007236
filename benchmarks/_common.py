r"""Helpers that several benchmarks share: their JSON results and sizes."""
import json
import os.path as osp
from typing import Any, Dict, Optional


def load_results(path: str) -> Dict[str, Any]:
    r"""The results saved in :obj:`path`, or an empty dict before any."""
    if osp.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def gib(value: Optional[float]) -> str:
    r"""A byte count in GiB for tables, or a dash if unknown."""
    return '–' if value is None else f'{value / 2**30:.2f}'
