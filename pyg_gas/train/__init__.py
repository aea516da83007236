r"""Training runs: the configuration (:mod:`~pyg_gas.train.config`, its
torch-free options :mod:`~pyg_gas.train.options`), the presets of the GAS
paper per dataset and model (:mod:`~pyg_gas.train.presets`), single- and
multi-label objectives (:mod:`~pyg_gas.train.task`), what a run is built
from (:mod:`~pyg_gas.train.build`), the one training loop for one or
several processes (:mod:`~pyg_gas.train.loop`) and its entry points
(:func:`run`, :func:`~pyg_gas.train.distributed.run_distributed`).

The names are imported on first access (see :mod:`pyg_gas.lazy`), so the
options and presets are read without importing :obj:`torch`."""
from pyg_gas.lazy import attach

#: Where each public name lives.
_EXPORTS = {
    'TrainConfig': 'pyg_gas.train.options',
    'DEVICES': 'pyg_gas.train.options',
    'resolve': 'pyg_gas.train.config',
    'run': 'pyg_gas.train.single',
    'prepare': 'pyg_gas.train.single',
    'fit': 'pyg_gas.train.loop',
    'Engine': 'pyg_gas.train.loop',
    'Reducer': 'pyg_gas.train.loop',
    'peak_memory_bytes': 'pyg_gas.train.loop',
    '_accuracy': 'pyg_gas.train.loop',
    'run_distributed': 'pyg_gas.train.distributed',
    'launch': 'pyg_gas.train.distributed',
    'build_model': 'pyg_gas.train.build',
    'select_device': 'pyg_gas.train.build',
    'MODELS': 'pyg_gas.train.build',
    'LOADERS': 'pyg_gas.train.build',
    'LAYERWISE': 'pyg_gas.train.build',
    'PARTITIONED': 'pyg_gas.train.build',
    'HISTORY_DTYPES': 'pyg_gas.train.build',
    'seed_everything': 'torch_geometric',
    'write_json': 'pyg_gas.utils',
    'DEFAULTS': 'pyg_gas.train.presets',
    'PRESETS': 'pyg_gas.train.presets',
    'GAS_PRESETS': 'pyg_gas.train.presets',
    'LOADER_DEFAULTS': 'pyg_gas.train.presets',
    'LOADER_PRESETS': 'pyg_gas.train.presets',
    'find_preset': 'pyg_gas.train.presets',
    'Task': 'pyg_gas.train.task',
    'MultiLabelTask': 'pyg_gas.train.task',
}

__getattr__, __dir__ = attach(__name__, _EXPORTS)

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
