import inspect
import os
import sys
import warnings
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Literal,
    Optional,
    Tuple,
    Union,
)

import torch
from torch import Tensor
from torch.nn import BatchNorm1d, Linear, ModuleList, ReLU
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.resolver import activation_resolver

from pyg_gas.checks import check_int, check_number
from pyg_gas.graph import is_sparse, num_target_nodes
from pyg_gas.nn.functional import dropout
from pyg_gas.nn.scalable import ScalableGNN
from pyg_gas.typing import WITH_TORCH_SPARSE, Adj, OptTensor, SparseTensor

#: What the models take instead of the arguments of PyG's
#: :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN` that they do not
#: take.
BASIC_GNN_ALTERNATIVES: Dict[str, str] = {
    'norm': "pass 'batch_norm=True' for batch normalization, the one "
            "normalization layer of these models",
    'norm_kwargs': "pass 'batch_norm=True' for batch normalization, with "
                   "the defaults of 'torch.nn.BatchNorm1d'",
    'jk': 'jumping knowledge is not supported: the output is that of the '
          'last layer',
    'act_first': 'the activation always follows the normalization',
}

#: The graph transforms that :attr:`GASModel.expects_transform` names.
Transform = Literal['gcn_norm', 'self_loops']


def _arguments(fn: Callable) -> List[str]:
    # The named parameters of 'fn', without 'self', '*args' and '**kwargs'.
    return [
        name for name, p in inspect.signature(fn).parameters.items()
        if name != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _takes_kwargs(fn: Callable) -> bool:
    return any(p.kind == p.VAR_KEYWORD
               for p in inspect.signature(fn).parameters.values())


def _adjacency_entries(adj_t: Any) -> Tuple[Tensor, Tensor, OptTensor]:
    # The (target, source, value) of every entry of an adjacency as the
    # convs receive it; 'value' is None where it has none.
    if WITH_TORCH_SPARSE and isinstance(adj_t, SparseTensor):
        row, col, value = adj_t.coo()
        return row, col, value
    if is_sparse(adj_t):
        if adj_t.layout == torch.sparse_csr:
            crow = adj_t.crow_indices()
            row = torch.arange(crow.numel() - 1, device=crow.device)
            row = row.repeat_interleave(crow.diff())
            return row, adj_t.col_indices(), adj_t.values()
        coo = adj_t.to_sparse_coo()
        return coo._indices()[0], coo._indices()[1], coo._values()
    edge_index = adj_t.as_subclass(Tensor)  # [2, E]: sources, targets.
    return edge_index[1], edge_index[0], None


def check_transformed(model: 'GASModel', x: Tensor, adj_t: Adj,
                      batch_size: Optional[int] = None) -> Optional[str]:
    r"""Tells what in :obj:`adj_t` shows that the graph did not go through
    :obj:`model.transform` (see :attr:`GASModel.expects_transform`), or
    returns :obj:`None` if nothing does: a target row without its
    self-loop (in a GAS batch, the targets are the first rows of the
    sources), or, for :obj:`'gcn_norm'`, an adjacency without edge weights
    (none, or all :obj:`1`)."""
    kind = model.expects_transform
    if kind is None:
        return None
    try:
        num_rows = num_target_nodes(adj_t)
    except ValueError:  # A plain 'edge_index'.
        num_rows = x.size(0) if batch_size is None else batch_size
    row, col, value = _adjacency_entries(adj_t)
    problems = []
    is_loop = row == col
    # After 'gcn_norm', the weight of an edge between two nodes is below 1
    # (its target has a degree of 2 at least, with its self-loop):
    if kind == 'gcn_norm' and (value is None or (
            bool((~is_loop).any()) and bool((value[~is_loop] == 1).all()))):
        problems.append('has no edge weights')
    loops = row[is_loop & (row < num_rows)]
    has_loop = torch.zeros(num_rows, dtype=torch.bool, device=row.device)
    has_loop[loops] = True
    missing = num_rows - int(has_loop.sum())
    if missing > 0:
        problems.append(f'lacks the self-loops of {missing} of its '
                        f'{num_rows} target nodes')
    return ' and '.join(problems) if problems else None


class GASModel(ScalableGNN):
    r"""The base of the ready-made models (:class:`BasicGAS`,
    :class:`~pyg_gas.nn.models.GCN2`, :class:`~pyg_gas.nn.models.APPNP`):
    a :class:`~pyg_gas.ScalableGNN` from :obj:`in_channels` input features
    to :obj:`out_channels` outputs, with a dropout and an activation. It
    checks and stores these options; subclasses add their layers.

    An argument that a model does not take raises a :class:`TypeError`
    that names it and lists the arguments that the model and its conv take
    (see :meth:`check_arguments`); for the arguments of PyG's
    :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN` that have no
    counterpart here (:obj:`norm`, :obj:`jk`, ...), it says what to use
    instead.

    Models whose convs expect the graph transformed by :meth:`transform`
    (see :attr:`expects_transform`) check the adjacency of their first
    forward pass, and warn once if it was not transformed.

    Args:
        num_nodes (int): The number of nodes of the graph.
        in_channels (int): The size of the input features.
        history_channels (int): The width of the histories.
        out_channels (int): The size of the output.
        num_layers (int): The number of layers.
        dropout (float, optional): The dropout, in :math:`[0, 1)`.
            (default: :obj:`0.0`)
        drop_input (bool, optional): Also drops out the input features.
            (default: :obj:`False`)
        act (str or Callable, optional): The activation, as in PyG's
            :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN`: a name
            for :func:`~torch_geometric.nn.resolver.activation_resolver`
            (e.g. :obj:`'relu'`, :obj:`'elu'`, :obj:`'gelu'`), a module or
            function, or :obj:`None` for none. (default: :obj:`'relu'`)
        act_kwargs (dict, optional): The arguments of :obj:`act`, if a
            name. (default: :obj:`None`)
        history_dtype (torch.dtype, optional): The storage type of the
            histories. (default: :obj:`torch.float32`)
        history_device (torch.device or str, optional): Keeps the histories
            on this device instead of moving them with the model.
            (default: :obj:`None`)
        history_storage (str, optional): :obj:`'memory'`, or :obj:`'disk'`
            for histories in memory-mapped files under :obj:`history_path`
            (see :class:`~pyg_gas.ScalableGNN`). (default: :obj:`'memory'`)
        history_path (str, optional): The directory of disk histories.
            (default: :obj:`None`)
    """
    #: Whether the layers weigh messages by the adjacency's values (edge
    #: weights). Layer-wise sampling (:class:`~pyg_gas.LADIESLoader`) needs
    #: it: its importance weights are the sampled adjacency's values.
    uses_edge_weight: bool = True

    #: What :meth:`transform` does to the graph, which the convs rely on:
    #: :obj:`'gcn_norm'` (self-loops and the symmetric normalization as
    #: edge weights, for convs with :obj:`normalize=False`),
    #: :obj:`'self_loops'` (one self-loop per node, for convs with
    #: :obj:`add_self_loops=False`), or :obj:`None`. The first forward pass
    #: warns if its adjacency lacks them (see :func:`check_transformed`).
    #: A subclass whose :meth:`transform` does something else sets its own.
    expects_transform: Optional[Transform] = None

    #: What to use instead of arguments that the model does not take, by
    #: their name, added to the message of :meth:`check_arguments`.
    argument_alternatives: Dict[str, str] = {}

    def __init__(self, num_nodes: int, in_channels: int,
                 history_channels: int, out_channels: int, num_layers: int,
                 dropout: float = 0.0, drop_input: bool = False,
                 act: Union[str, Callable, None] = 'relu',
                 act_kwargs: Optional[Dict[str, Any]] = None,
                 history_dtype: Optional[torch.dtype] = None,
                 history_device: Optional[Union[torch.device, str]] = None,
                 history_storage: str = 'memory',
                 history_path: Optional[str] = None,
                 ) -> None:
        check_int('in_channels', in_channels)
        check_int('out_channels', out_channels)
        check_number('dropout', dropout, 0.0, 1.0, open_max=True)
        act = _resolve_activation(act, act_kwargs)
        super().__init__(num_nodes, history_channels, num_layers,
                         history_dtype=history_dtype,
                         history_device=history_device,
                         history_storage=history_storage,
                         history_path=history_path)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.dropout = dropout
        self.drop_input = drop_input
        self.act = act
        self._transform_checked = False

    @classmethod
    def model_arguments(cls) -> List[str]:
        r"""The names of the arguments of the model's constructor."""
        names: List[str] = []
        for klass in cls.__mro__:
            if klass is GASModel:
                break
            if '__init__' in vars(klass):
                names += [name for name in _arguments(klass.__init__)
                          if name not in names]
        return names

    @classmethod
    def conv_arguments(cls) -> Optional[List[str]]:
        r"""The names of the arguments that the model passes on to its
        convs, or :obj:`None` if any may be (a subclass that passes them
        on without telling its conv class). The default has none."""
        return []

    @classmethod
    def check_arguments(cls, kwargs: Dict[str, Any]) -> None:
        r"""Raises a :class:`TypeError` if :obj:`kwargs` holds an argument
        that neither the model (:meth:`model_arguments`) nor its conv
        (:meth:`conv_arguments`) takes. The message names them, lists the
        arguments that exist, and says what to use instead of those of
        PyG's :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN`
        (:data:`BASIC_GNN_ALTERNATIVES`)."""
        own = cls.model_arguments()
        conv_arguments = cls.conv_arguments()
        if conv_arguments is None:  # Unknown: the conv will tell.
            return
        conv = [name for name in conv_arguments if name not in own]
        unknown = sorted(key for key in kwargs
                         if key not in own and key not in conv)
        if len(unknown) == 0:
            return
        name = cls.__name__
        got = ', '.join(f"'{key}'" for key in unknown)
        plural = 's' if len(unknown) > 1 else ''
        msg = (f"{name} got unexpected argument{plural} {got}. Its "
               f"arguments are: {', '.join(own)}")
        conv_cls = getattr(cls, 'conv_cls', None)
        if len(conv) > 0:
            of = f' {conv_cls.__name__}' if conv_cls is not None else ''
            msg += f"; and those of its conv{of}: {', '.join(conv)}"
        msg += '.'
        alternatives = {**BASIC_GNN_ALTERNATIVES, **cls.argument_alternatives}
        hints = [f"'{key}': {alternatives[key]}" for key in unknown
                 if key in alternatives]
        if len(hints) > 0:
            msg += ' Of these, ' + '; '.join(hints) + '.'
        raise TypeError(msg)

    def activate(self, x: Tensor, inplace: bool = False) -> Tensor:
        r"""Applies the activation :obj:`act` (in place if it is a ReLU and
        :obj:`inplace`)."""
        if self.act is None:
            return x
        if type(self.act) is ReLU:
            return x.relu_() if inplace else x.relu()
        return self.act(x)

    def forward(self, x: Tensor, adj_t: Adj, batch_size: Optional[int] = None,
                n_id: OptTensor = None, offset: OptTensor = None,
                count: OptTensor = None,
                edge_attr: OptTensor = None) -> Tensor:
        r"""The forward pass of :meth:`pyg_gas.ScalableGNN.forward`, with
        its arguments. The first call of a model with
        :attr:`expects_transform` checks :obj:`adj_t` (see
        :func:`check_transformed`), and warns if the graph did not go
        through :meth:`transform`."""
        if (self.expects_transform is not None
                and not self.__dict__.get('_transform_checked', True)):
            self._transform_checked = True
            self._warn_untransformed(x, adj_t, batch_size)
        return super().forward(x, adj_t, batch_size, n_id, offset, count,
                               edge_attr)

    def _warn_untransformed(self, x: Tensor, adj_t: Adj,
                            batch_size: Optional[int]) -> None:
        problem = check_transformed(self, x, adj_t, batch_size)
        if problem is None:
            return
        name = type(self).__name__
        if self.expects_transform == 'gcn_norm':
            need = ("its convs run with normalize=False on the normalized "
                    "adjacency that 'model.transform(data)' computes once "
                    "for the whole graph (self-loops, and the symmetric "
                    "normalization as 'edge_weight'), so the model now "
                    "computes unnormalized sums")
        else:
            need = ("its convs run with add_self_loops=False on the "
                    "self-loops that 'model.transform(data)' adds once to "
                    "the whole graph, so nodes now ignore their own "
                    "features")
        warnings.warn(
            f"{name}: the adjacency of its first forward pass {problem}, "
            f"but {need}. Call 'data = model.transform(data)' before "
            f"partitioning the graph and building the loaders, and pass a "
            f"weighted sparse 'adj_t' (e.g. 'batch.adj_t'); a prepared "
            f"dataset takes 'pyg_gas.storage.derive(dataset, "
            f"'{self.expects_transform}')'.", UserWarning,
            stacklevel=_user_stacklevel())

    def __setstate__(self, state: Dict[str, Any]) -> None:
        state.setdefault('_transform_checked', True)  # Pickled before.
        super().__setstate__(state)

    def embed_input(self, x: Tensor) -> Tensor:
        r"""Maps the input features of all rows, dropped out if
        :obj:`drop_input`, through the subclass's first linear layer
        :obj:`lins[0]` and the activation."""
        if self.drop_input:
            x = dropout(x, p=self.dropout, training=self.training)
        return self.activate(self.lins[0](x))  # [B + H, C]

    def reset_parameters(self) -> None:
        r"""Resets the histories and every module of the subclass's
        :obj:`lins`, :obj:`convs` and :obj:`bns` lists that it has, and
        the activation if it has parameters."""
        super().reset_parameters()
        for name in ('lins', 'convs', 'bns'):
            for module in getattr(self, name, []):
                module.reset_parameters()
        if hasattr(self.act, 'reset_parameters'):
            self.act.reset_parameters()

    def param_groups(self, weight_decay: float = 0.0,
                     nonreg_weight_decay: float = 0.0) -> List[dict]:
        groups = super().param_groups(weight_decay, nonreg_weight_decay)
        if isinstance(self.act, torch.nn.Module):  # E.g. PReLU's weights.
            seen = {id(p) for group in groups for p in group['params']}
            groups[1]['params'] += [p for p in self.act.parameters()
                                    if id(p) not in seen]
        return groups


_TORCH_DIR = os.path.dirname(torch.__file__)


def _user_stacklevel() -> int:
    # The stack level of the first frame outside this module and torch
    # (whose 'Module.__call__' calls 'forward'), for a warning to point at
    # the user's line.
    frame, level = sys._getframe(1), 1
    while frame is not None and (
            frame.f_code.co_filename == __file__
            or frame.f_code.co_filename.startswith(_TORCH_DIR)):
        frame, level = frame.f_back, level + 1
    return level


def _resolve_activation(act: Any, act_kwargs: Optional[Dict[str, Any]]
                        ) -> Optional[Callable]:
    if act is None:
        return None
    if isinstance(act, str):
        try:
            return activation_resolver(act, **(act_kwargs or {}))
        except ValueError:
            raise ValueError(f"'act' must be the name of an activation of "
                             f"'torch.nn' (e.g. 'relu', 'elu', 'gelu'), a "
                             f"callable or None (got {act!r})") from None
    if not callable(act):
        raise TypeError(f"'act' must be a str, a callable or None (got "
                        f"{type(act).__name__})")
    return act


class BasicGAS(GASModel):
    r"""A stack of message passing layers with the usual options, trained
    with historical embeddings. Subclasses choose the conv with
    :meth:`init_conv` and how to call it with :meth:`conv`.

    Layer :math:`\ell` computes, for its target rows,

    .. math::
        \mathbf{H}^{(\ell + 1)} = \sigma\left(\mathrm{BN}\left(
        \mathrm{conv}(\mathrm{dropout}(\mathbf{H}^{(\ell)}))\right) +
        \mathbf{H}^{(\ell)}_{\textrm{residual}}\right)

    The arguments :obj:`num_nodes`, :obj:`in_channels`, :obj:`out_channels`,
    :obj:`num_layers` (of message passing layers), :obj:`dropout` (before
    every layer), :obj:`drop_input`, :obj:`history_dtype`,
    :obj:`history_device`, :obj:`history_storage` and :obj:`history_path`
    are those of :class:`GASModel`.

    Args:
        hidden_channels (int): The size of the hidden embeddings (the
            histories are :meth:`hidden_width` wide).
        batch_norm (bool, optional): Applies batch normalization after each
            hidden layer. (default: :obj:`False`)
        residual (bool, optional): Adds the layer's input to its output where
            their sizes match. (default: :obj:`False`)
        linear (bool, optional): Maps the input features to
            :obj:`hidden_channels` with a linear layer before the first conv,
            and the last conv's output to :obj:`out_channels` with another
            one, so that every conv is hidden-to-hidden.
            (default: :obj:`False`)
        act (str or Callable, optional): The activation of every hidden
            layer, see :class:`GASModel`. (default: :obj:`'relu'`)
        act_kwargs (dict, optional): The arguments of :obj:`act`.
            (default: :obj:`None`)
        **kwargs (optional): Arguments of the conv (see :meth:`init_conv`
            and :meth:`conv_arguments`); any other raises a
            :class:`TypeError` that lists them.
    """
    #: The conv class that :meth:`init_conv` builds, whose arguments it
    #: passes on (see :meth:`conv_arguments`).
    conv_cls: Optional[type] = None
    #: The arguments of :attr:`conv_cls` that :meth:`init_conv` sets
    #: itself.
    fixed_conv_arguments: Tuple[str, ...] = ()

    def __init__(self, num_nodes: int, in_channels: int, hidden_channels: int,
                 out_channels: int, num_layers: int, dropout: float = 0.0,
                 drop_input: bool = False, batch_norm: bool = False,
                 residual: bool = False, linear: bool = False,
                 act: Union[str, Callable, None] = 'relu',
                 act_kwargs: Optional[Dict[str, Any]] = None,
                 history_dtype: Optional[torch.dtype] = None,
                 history_device: Optional[Union[torch.device, str]] = None,
                 history_storage: str = 'memory',
                 history_path: Optional[str] = None,
                 **kwargs: Any) -> None:
        self.check_arguments(kwargs)
        check_int('hidden_channels', hidden_channels)
        width = self.hidden_width(hidden_channels, **kwargs)
        super().__init__(num_nodes, in_channels, width, out_channels,
                         num_layers, dropout=dropout, drop_input=drop_input,
                         act=act, act_kwargs=act_kwargs,
                         history_dtype=history_dtype,
                         history_device=history_device,
                         history_storage=history_storage,
                         history_path=history_path)
        self.hidden_channels = hidden_channels
        self.residual = residual
        self.linear = linear

        self.lins = ModuleList()
        if linear:
            self.lins.append(Linear(in_channels, width))
            self.lins.append(Linear(width, out_channels))

        self.convs = ModuleList()
        for i in range(num_layers):
            in_dim = width if i > 0 or linear else in_channels
            last = i == num_layers - 1 and not linear
            out_dim = out_channels if last else hidden_channels
            self.convs.append(
                self.init_conv(in_dim, out_dim, last=last, **kwargs))

        self.bns = ModuleList()
        if batch_norm:
            num_norms = num_layers if linear else num_layers - 1
            for _ in range(num_norms):
                self.bns.append(BatchNorm1d(width))

    @classmethod
    def conv_arguments(cls) -> Optional[List[str]]:
        r"""The arguments that reach the conv: the named arguments of
        :meth:`init_conv` and, if it passes on the others, those of
        :attr:`conv_cls` (with those of
        :class:`~torch_geometric.nn.conv.MessagePassing` that it passes
        on) but for :attr:`fixed_conv_arguments`. :obj:`None` (any) for a
        subclass whose :meth:`init_conv` passes on the others without a
        :attr:`conv_cls`."""
        fixed = {'in_channels', 'out_channels', 'last', 'channels', 'nn'}
        fixed |= set(cls.fixed_conv_arguments)
        names = [n for n in _arguments(cls.init_conv) if n not in fixed]
        conv_cls = cls.conv_cls
        if not _takes_kwargs(cls.init_conv):
            return names
        if conv_cls is None:
            return None
        extra = _arguments(conv_cls.__init__)
        if _takes_kwargs(conv_cls.__init__) and issubclass(
                conv_cls, MessagePassing):
            extra += _arguments(MessagePassing.__init__)
        for name in extra:
            if name not in fixed and name not in names:
                names.append(name)
        return names

    def hidden_width(self, hidden_channels: int, **kwargs: Any) -> int:
        r"""The width of the hidden embeddings (and histories), e.g.
        :obj:`hidden_channels * heads` for concatenated attention heads."""
        return hidden_channels

    def init_conv(self, in_channels: int, out_channels: int, last: bool,
                  **kwargs: Any) -> torch.nn.Module:
        r"""Creates the conv of one layer; :obj:`last` tells whether it
        is the output layer."""
        raise NotImplementedError

    def conv(self, layer: int, x: Tensor, adj_t: Adj,
             state: Dict[str, Any]) -> Tensor:
        r"""Calls the conv of :obj:`layer`; returns the target rows."""
        return self.convs[layer](x, adj_t)

    @property
    def reg_modules(self) -> ModuleList:
        # As in GAS: the first layer (and its norm) takes the weight decay.
        if self.linear:
            return ModuleList([self.lins[0]])
        return ModuleList([self.convs[0]] + list(self.bns[:1]))

    @property
    def nonreg_modules(self) -> ModuleList:
        if self.linear:
            return ModuleList([self.convs, self.bns, self.lins[1]])
        return ModuleList(list(self.convs[1:]) + list(self.bns[1:]))

    def forward_layer(self, layer: int, x: Tensor, adj_t: Adj,
                      state: Dict[str, Any]) -> Tensor:
        if layer > 0 or self.drop_input:
            x = dropout(x, p=self.dropout, training=self.training)
        if layer == 0 and self.linear:
            x = self.activate(self.lins[0](x),
                              inplace=True)  # [B + H, hidden_channels]
            x = dropout(x, p=self.dropout, training=self.training)

        h = self.conv(layer, x, adj_t, state)  # [B, C]

        last = layer == self.num_layers - 1
        if not last or self.linear:
            if len(self.bns) > 0:
                h = self.bns[layer](h)
            if self.residual and h.size(-1) == x.size(-1):
                h = h + x[:h.size(0)]
            h = self.activate(h, inplace=True)
        if last and self.linear:
            h = dropout(h, p=self.dropout, training=self.training)
            h = self.lins[1](h)  # [B, out_channels]
        return h

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, '
                f'num_layers={self.num_layers}, '
                f'num_nodes={self.num_nodes}')
