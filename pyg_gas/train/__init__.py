r"""Training runs: the configuration (:mod:`~pyg_gas.train.config`), the
presets of the GAS paper per dataset and model
(:mod:`~pyg_gas.train.presets`), single- and multi-label objectives
(:mod:`~pyg_gas.train.task`), what a run is built from
(:mod:`~pyg_gas.train.build`), the one training loop for one or several
processes (:mod:`~pyg_gas.train.loop`) and its entry points
(:func:`run`, :func:`~pyg_gas.train.distributed.run_distributed`)."""
from torch_geometric import seed_everything

from pyg_gas.train.build import (
    HISTORY_DTYPES,
    LAYERWISE,
    LOADERS,
    MODELS,
    PARTITIONED,
    build_model,
    select_device,
)
from pyg_gas.train.config import (
    DEFAULTS,
    DEVICES,
    LOADER_DEFAULTS,
    LOADER_PRESETS,
    PRESETS,
    TrainConfig,
    resolve,
)
from pyg_gas.train.distributed import launch, run_distributed
from pyg_gas.train.loop import (
    Engine,
    Reducer,
    _accuracy,
    fit,
    peak_memory_bytes,
)
from pyg_gas.train.presets import GAS_PRESETS, find_preset
from pyg_gas.train.single import prepare, run
from pyg_gas.train.task import MultiLabelTask, Task
from pyg_gas.utils import write_json

__all__ = [
    'TrainConfig',
    'resolve',
    'run',
    'fit',
    'prepare',
    'Engine',
    'Reducer',
    'run_distributed',
    'launch',
    'build_model',
    'select_device',
    'seed_everything',
    'peak_memory_bytes',
    'write_json',
    'MODELS',
    'LOADERS',
    'LAYERWISE',
    'PARTITIONED',
    'DEVICES',
    'HISTORY_DTYPES',
    'DEFAULTS',
    'PRESETS',
    'GAS_PRESETS',
    'find_preset',
    'Task',
    'MultiLabelTask',
    'LOADER_DEFAULTS',
    'LOADER_PRESETS',
    '_accuracy',
]
