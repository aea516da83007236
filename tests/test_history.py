import pytest
import torch

from pyg_gas.history import History

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                   reason='CUDA is not available')


def rand(*size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*size, generator=torch.Generator().manual_seed(seed))


# Construction ################################################################


@pytest.mark.parametrize('dtype', DTYPES + [None])
def test_init(dtype):
    history = History(10, 4, dtype=dtype)
    dtype = dtype or torch.float32
    assert history.num_embeddings == 10
    assert history.embedding_dim == 4
    assert history.dtype == dtype
    assert history.emb.shape == (10, 4)
    assert history.emb.dtype == dtype
    assert not bool(history.emb.any())
    assert history.last_step.tolist() == [-1] * 10
    assert history.last_step.dtype == torch.long
    assert history.step.shape == ()
    assert int(history.step) == 0
    assert history.device == torch.device('cpu')
    assert history.offload is False
    assert list(history.parameters()) == []


def test_init_empty_store():
    history = History(0, 3)
    assert history.pull().shape == (0, 3)
    assert history.staleness().shape == (0, )


@pytest.mark.parametrize('args,kwargs,error,match', [
    ((-1, 4), {}, ValueError,
     r"'num_embeddings' must be non-negative \(got -1"),
    ((10, 0), {}, ValueError, r"'embedding_dim' must be positive \(got 0\)"),
    ((10, -3), {}, ValueError, r"'embedding_dim' must be positive"),
    ((10.0, 4), {}, TypeError, r"'num_embeddings' must be an int \(got "
     r'float\)'),
    ((10, True), {}, TypeError, r"'embedding_dim' must be an int \(got "
     r'bool\)'),
    ((10, 4), dict(dtype=torch.int32), ValueError, r"'dtype' must be one of "
     r'.*\(got torch.int32\)'),
    ((10, 4), dict(dtype=torch.long), ValueError, "'dtype' must be one of"),
    ((10, 4), dict(dtype=torch.complex64), ValueError, "'dtype'"),
])
def test_init_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        History(*args, **kwargs)


def test_repr():
    assert repr(History(10, 4)) == 'History(10, 4)'
    assert repr(History(10, 4, dtype=torch.bfloat16)) == (
        'History(10, 4, dtype=torch.bfloat16)')
    assert repr(History(7, 3, device='cpu')) == 'History(7, 3, device=cpu)'


# push / pull #################################################################


@pytest.mark.parametrize('dtype', DTYPES)
def test_push_pull_round_trip(dtype):
    history = History(10, 4, dtype=dtype)
    x = rand(3, 4)
    n_id = torch.tensor([7, 2, 5])
    history.push(x, n_id)

    out = history.pull(n_id)
    compute_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    assert out.dtype == compute_dtype
    assert out.shape == (3, 4)
    if dtype in (torch.float32, torch.float64):
        assert torch.equal(out, x.to(dtype))  # Exact.
    else:
        assert torch.equal(out, x.to(dtype).float())
        assert not torch.equal(out, x)  # Rounded to the low precision.
    assert torch.equal(history.emb[n_id], x.to(dtype))

    # Rows in another order, and repeated:
    out = history.pull(torch.tensor([5, 7, 5]))
    assert torch.equal(out, x.to(dtype).to(compute_dtype)[[2, 0, 2]])

    # Untouched rows stay zero and never-pushed:
    untouched = torch.tensor([0, 1, 3, 4, 6, 8, 9])
    assert not bool(history.pull(untouched).any())
    assert history.last_step[untouched].tolist() == [-1] * 7
    assert history.last_step[n_id].tolist() == [0, 0, 0]

    # All rows:
    full = history.pull()
    assert full.shape == (10, 4)
    assert torch.equal(full[n_id], x.to(dtype).to(compute_dtype))


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('out_dtype', DTYPES)
def test_pull_dtype(dtype, out_dtype):
    history = History(5, 2, dtype=dtype)
    x = rand(5, 2)
    history.push(x)
    out = history.pull(torch.tensor([4, 0]), dtype=out_dtype)
    assert out.dtype == out_dtype
    assert torch.equal(out, x.to(dtype).to(out_dtype)[[4, 0]])
    assert history.pull(dtype=out_dtype).dtype == out_dtype


def test_push_casts_input():
    history = History(4, 2, dtype=torch.float16)
    history.push(torch.tensor([[1.5, 2.0]], dtype=torch.float64),
                 torch.tensor([1]))
    assert history.emb.dtype == torch.float16
    assert history.pull(torch.tensor([1])).tolist() == [[1.5, 2.0]]


def test_push_overwrites_and_detaches():
    history = History(4, 2)
    history.push(torch.ones(2, 2), torch.tensor([0, 1]))
    x = rand(1, 2).requires_grad_()
    history.push(x * 2, torch.tensor([1]))
    assert not history.emb.requires_grad
    assert torch.equal(history.emb[1], (x * 2).detach()[0])
    assert history.emb[0].tolist() == [1.0, 1.0]
    assert not history.pull(torch.tensor([1])).requires_grad


def test_push_empty_n_id():
    history = History(4, 2)
    history.push(torch.empty(0, 2), torch.empty(0, dtype=torch.long))
    assert not bool(history.emb.any())
    assert history.last_step.tolist() == [-1] * 4


def x_rows(count: int) -> torch.Tensor:
    # Row i holds [i, -i], so copied rows can be told apart.
    i = torch.arange(1, count + 1, dtype=torch.float)
    return torch.stack([i, -i], dim=1)


@pytest.mark.parametrize('offset,count,rows', [
    (3, 4, [3, 4, 5, 6]),
    (torch.tensor(3), torch.tensor(4), [3, 4, 5, 6]),
    (torch.tensor([3]), torch.tensor([4]), [3, 4, 5, 6]),
    ([0, 8], [2, 2], [0, 1, 8, 9]),
    (torch.tensor([6, 1]), torch.tensor([3, 2]), [6, 7, 8, 1, 2]),
    (torch.tensor([0, 4, 9]), torch.tensor([1, 0, 1]), [0, 9]),
    (0, 10, list(range(10))),
])
def test_push_offset_count(offset, count, rows):
    history = History(10, 2)
    x = x_rows(len(rows))
    history.push(x, offset=offset, count=count)

    expected = torch.zeros(10, 2)
    expected[rows] = x
    assert torch.equal(history.emb, expected)
    expected_step = torch.full((10, ), -1)
    expected_step[rows] = 0
    assert torch.equal(history.last_step, expected_step)

    # Same result as pushing by n_id:
    other = History(10, 2)
    other.push(x, torch.tensor(rows, dtype=torch.long))
    assert torch.equal(other.emb, history.emb)
    assert torch.equal(other.last_step, history.last_step)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float64])
def test_push_offset_count_low_precision(dtype):
    history = History(6, 3, dtype=dtype)
    x = rand(4, 3)
    history.push(x, offset=[1, 4], count=[2, 2])
    assert history.emb.dtype == dtype
    assert torch.equal(history.emb[[1, 2, 4, 5]], x.to(dtype))
    assert not bool(history.emb[[0, 3]].any())


@pytest.mark.parametrize('dtype', DTYPES)
def test_push_all_rows(dtype):
    history = History(5, 3, dtype=dtype)
    history.push(torch.ones(2, 3), torch.tensor([0, 1]))
    history.tick()
    x = rand(5, 3)
    history.push(x)  # Replaces the whole store.
    assert torch.equal(history.emb, x.to(dtype))
    assert history.last_step.tolist() == [1] * 5
    assert history.staleness().tolist() == [0] * 5


def test_push_all_rows_requires_all_rows():
    history = History(5, 3)
    with pytest.raises(ValueError, match="without 'n_id' needs all 5 rows "
                       r'\(got 4\)'):
        history.push(torch.ones(4, 3))
    assert not bool(history.emb.any())


@pytest.mark.parametrize('x,kwargs,error,match', [
    (torch.ones(2, 3), dict(n_id=torch.tensor([0, 1])), ValueError,
     r"'x' must have shape \[num_rows, 4\] \(got \[2, 3\]\)"),
    (torch.ones(4), dict(n_id=torch.tensor([0, 1, 2, 3])), ValueError,
     r"'x' must have shape \[num_rows, 4\] \(got \[4\]\)"),
    (torch.ones(1, 2, 4), dict(n_id=torch.tensor([0])), ValueError,
     r"'x' must have shape"),
    ([[0.0] * 4], dict(n_id=torch.tensor([0])), TypeError,
     r"'x' must be a tensor \(got list\)"),
    (torch.ones(2, 4), dict(n_id=torch.tensor([0, 1, 2])), ValueError,
     r"'x' has 2 rows but 'n_id' has 3 entries"),
    (torch.ones(2, 4), dict(n_id=torch.tensor([0.0, 1.0])), TypeError,
     r"'n_id' must be a tensor of type torch.long"),
    (torch.ones(2, 4), dict(n_id=torch.tensor([0, 1], dtype=torch.int32)),
     TypeError, "torch.long"),
    (torch.ones(2, 4), dict(n_id=[0, 1]), TypeError, "'n_id' must be a "
     'tensor'),
    (torch.ones(2, 4), dict(n_id=torch.tensor([[0, 1]])), ValueError,
     r"'n_id' must be one-dimensional \(got shape \[1, 2\]\)"),
    (torch.ones(2, 4), dict(offset=torch.tensor([0])), ValueError,
     "'offset' and 'count' must be given together"),
    (torch.ones(2, 4), dict(count=torch.tensor([2])), ValueError,
     "'offset' and 'count' must be given together"),
    (torch.ones(2, 4), dict(offset=[0, 5], count=[2]), ValueError,
     r"'offset' \(2\) and 'count' \(1\) differ in length"),
    (torch.ones(2, 4), dict(offset=[0], count=[3]), ValueError,
     r"'x' has 2 rows but 'count' sums to 3"),
    (torch.ones(3, 4), dict(offset=[0, 5], count=[1, 1]), ValueError,
     r"'count' sums to 2"),
    (torch.ones(2, 4), dict(offset=[9], count=[2]), ValueError,
     r'Range \[9, 11\) is out of bounds for 10 rows'),
    (torch.ones(2, 4), dict(offset=[-1], count=[2]), ValueError,
     r'Range \[-1, 1\) is out of bounds'),
    (torch.ones(0, 4), dict(offset=[11], count=[0]), ValueError,
     'out of bounds'),
    (torch.ones(0, 4), dict(offset=[2, 4], count=[-1, 1]), ValueError,
     r"Range \[2, 1\) is out of bounds for 10 rows \('offset' 2, 'count' "
     r"-1; expected offset >= 0, count >= 0"),
])
def test_push_errors(x, kwargs, error, match):
    history = History(10, 4)
    with pytest.raises(error, match=match):
        history.push(x, **kwargs)
    assert not bool(history.emb.any())
    assert history.last_step.tolist() == [-1] * 10


@pytest.mark.parametrize('n_id,error,match', [
    (torch.tensor([0.0]), TypeError, "'n_id' must be a tensor of type "
     'torch.long'),
    (torch.tensor([[0, 1]]), ValueError, "'n_id' must be one-dimensional"),
    ([0, 1], TypeError, 'torch.long'),
])
def test_pull_errors(n_id, error, match):
    history = History(10, 4)
    with pytest.raises(error, match=match):
        history.pull(n_id)


def test_pull_out_of_range():
    history = History(10, 4)
    with pytest.raises(IndexError):
        history.pull(torch.tensor([10]))


@pytest.mark.parametrize('n_id,match', [
    ([3, 10], r'max id 10, for num_nodes=10'),
    ([12, 0, 3], r'max id 12, for num_nodes=10'),
    ([-1, 2], r'min id -1, for num_nodes=10'),
])
def test_ids_out_of_range_name_the_id_and_num_nodes(n_id, match):
    history = History(10, 4)
    n_id = torch.tensor(n_id)
    pattern = r"'n_id' must hold ids in \[0, 10\) \(got " + match
    for call in (lambda: history.pull(n_id),
                 lambda: history.pull(n_id, out=torch.empty(len(n_id), 4)),
                 lambda: history.push(torch.ones(len(n_id), 4), n_id),
                 lambda: history.staleness(n_id)):
        with pytest.raises(ValueError, match=pattern):  # An IndexError too.
            call()
    assert not bool(history.emb.any())  # Nothing was written.
    assert history.last_step.tolist() == [-1] * 10
    assert history.pull(torch.tensor([], dtype=torch.long)).shape == (0, 4)


@pytest.mark.parametrize('dtype', [torch.complex64, torch.complex128])
def test_push_refuses_complex_input(dtype):
    history = History(3, 2, dtype=torch.float64)
    x = torch.ones(3, 2, dtype=dtype) * (1 + 2j)
    for kwargs in ({}, dict(n_id=torch.arange(3)),
                   dict(offset=[0], count=[3])):
        with pytest.raises(TypeError,
                           match=f"'x' must be a real tensor .*{dtype}"):
            history.push(x, **kwargs)
    assert not bool(history.emb.any())  # The real part was not kept.


# Staleness ###################################################################


def test_staleness():
    history = History(6, 2)
    assert history.staleness().tolist() == [-1] * 6

    history.push(torch.ones(2, 2), torch.tensor([0, 1]))  # Step 0.
    assert history.staleness().tolist() == [0, 0, -1, -1, -1, -1]
    history.tick()
    history.tick()
    assert int(history.step) == 2
    history.push(torch.ones(1, 2), offset=2, count=1)  # Step 2.
    history.tick()
    assert history.staleness().tolist() == [3, 3, 1, -1, -1, -1]
    assert history.staleness(torch.tensor([2, 0, 5])).tolist() == [1, 3, -1]

    history.push(torch.ones(1, 2), torch.tensor([0]))  # Step 3.
    history.tick()
    history.tick()
    assert history.staleness().tolist() == [2, 5, 3, -1, -1, -1]
    assert history.last_step.tolist() == [3, 0, 2, -1, -1, -1]
    assert history.staleness().dtype == torch.long


def test_reset_parameters():
    history = History(4, 2, dtype=torch.bfloat16)
    history.push(rand(4, 2))
    history.tick()
    history.push(rand(1, 2), torch.tensor([2]))
    history.tick()
    history.reset_parameters()
    assert history.emb.dtype == torch.bfloat16
    assert not bool(history.emb.any())
    assert history.last_step.tolist() == [-1] * 4
    assert int(history.step) == 0
    assert history.staleness().tolist() == [-1] * 4


# State ########################################################################


def test_buffers_are_registered():
    history = History(5, 3)
    assert set(history.state_dict().keys()) == {'emb', 'last_step', 'step'}
    assert set(dict(history.named_buffers()).keys()) == {
        'emb', 'last_step', 'step'
    }
    model = torch.nn.ModuleDict({'hist': History(5, 3)})
    assert set(model.state_dict().keys()) == {
        'hist.emb', 'hist.last_step', 'hist.step'
    }


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_state_dict_round_trip(dtype, tmp_path):
    history = History(6, 3, dtype=dtype)
    history.push(rand(2, 3), torch.tensor([4, 1]))
    history.tick()
    history.tick()
    history.push(rand(1, 3, seed=1), offset=0, count=1)
    history.tick()

    path = tmp_path / 'history.pt'
    torch.save(history.state_dict(), path)
    state = torch.load(path, weights_only=True)

    other = History(6, 3, dtype=dtype)
    other.load_state_dict(state)
    assert torch.equal(other.emb, history.emb)
    assert other.emb.dtype == dtype
    assert torch.equal(other.last_step, history.last_step)
    assert torch.equal(other.step, history.step)
    assert int(other.step) == 3
    assert torch.equal(other.staleness(), history.staleness())
    assert torch.equal(other.pull(), history.pull())
    # The copies are independent:
    other.push(torch.ones(6, 3))
    assert not torch.equal(other.emb, history.emb)


def test_load_state_dict_shape_mismatch():
    with pytest.raises(RuntimeError, match='size mismatch'):
        History(6, 3).load_state_dict(History(5, 3).state_dict())


# Devices and dtypes ###########################################################


def test_module_to_dtype_follows_module():
    history = History(5, 3)
    x = rand(5, 3)
    history.push(x)
    out = history.to(torch.float64)
    assert out is history
    assert history.emb.dtype == torch.float64
    assert history.dtype == torch.float64
    assert torch.equal(history.emb, x.double())
    # Integer counters keep their type:
    assert history.last_step.dtype == torch.long
    assert history.step.dtype == torch.long
    assert history.pull().dtype == torch.float64
    assert history.device == torch.device('cpu')


def test_module_half_converts_non_offloaded_store():
    history = History(5, 3)
    torch.nn.Sequential(history).half()
    assert history.emb.dtype == torch.float16
    assert history.pull().dtype == torch.float32


def test_offloaded_store_keeps_dtype_and_device():
    history = History(5, 3, device='cpu')
    assert history.offload is True
    x = rand(5, 3)
    history.push(x)
    data_ptr = history.emb.data_ptr()

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), history)
    model.double()
    assert model[0].weight.dtype == torch.float64  # The model did change.
    assert history.emb.dtype == torch.float32
    assert history.emb.device == torch.device('cpu')
    assert history.emb.data_ptr() == data_ptr  # Same storage, no copy.
    assert history.last_step.dtype == torch.long
    assert history.device == torch.device('cpu')
    assert not history.emb.is_pinned()  # Pinned only for a CUDA model.
    assert torch.equal(history.pull(), x)
    assert history.pull().dtype == torch.float32

    model.to('cpu')
    assert history.emb.data_ptr() == data_ptr
    assert set(history.state_dict().keys()) == {'emb', 'last_step', 'step'}


# CUDA ########################################################################


@requires_cuda
@pytest.mark.parametrize('dtype', DTYPES)
def test_cuda_round_trip(dtype):
    history = History(10, 4, dtype=dtype).to('cuda')
    assert history.emb.device.type == 'cuda'
    assert history.device.type == 'cuda'
    x = rand(3, 4).cuda()
    n_id = torch.tensor([7, 2, 5], device='cuda')
    history.push(x, n_id)
    out = history.pull(n_id)
    assert out.device.type == 'cuda'
    assert torch.equal(out.cpu(), x.cpu().to(dtype).to(out.dtype))
    history.push(x, offset=torch.tensor([0]), count=torch.tensor([3]))
    assert torch.equal(history.pull(torch.arange(3, device='cuda')), out)
    assert history.staleness(n_id).tolist() == [0, 0, 0]


@requires_cuda
def test_cuda_offloaded_store_stays_on_cpu_pinned():
    history = History(10, 4, device='cpu')
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), history).to('cuda')
    assert model[0].weight.device.type == 'cuda'
    assert history.emb.device.type == 'cpu'
    assert history.emb.is_pinned()
    assert history.last_step.device.type == 'cpu'
    assert history.device.type == 'cuda'

    x = rand(3, 4).cuda()
    n_id = torch.tensor([1, 8, 4], device='cuda')
    history.push(x, n_id)
    out = history.pull(n_id)
    assert out.device.type == 'cuda'
    assert torch.equal(out, x)
    assert history.pull().device.type == 'cuda'
    assert history.emb.device.type == 'cpu'

    model.cpu()
    assert history.device.type == 'cpu'
    assert history.pull(n_id.cpu()).device.type == 'cpu'


def test_failed_range_push_writes_nothing():
    history = History(10, 2)
    with pytest.raises(ValueError, match='out of bounds'):
        history.push(torch.ones(7, 2), offset=[0, 8], count=[2, 5])
    assert torch.equal(history.emb, torch.zeros(10, 2))
    assert history.last_step.tolist() == [-1] * 10


def test_pull_returns_a_copy():
    history = History(4, 2)
    history.pull().add_(5)
    history.pull(torch.tensor([0, 1])).add_(5)
    assert torch.equal(history.emb, torch.zeros(4, 2))


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_pull_into_out(dtype):
    hist = History(10, 3, dtype=dtype)
    x = torch.arange(30, dtype=torch.float).view(10, 3)
    hist.push(x)
    n_id = torch.tensor([7, 2, 2, 9])
    buf = torch.full((6, 3), -1.0)
    out = hist.pull(n_id, out=buf[2:])
    assert out.data_ptr() == buf[2:].data_ptr()
    assert torch.equal(buf[2:], x[n_id])
    assert torch.equal(buf[:2], torch.full((2, 3), -1.0))  # Untouched.
    # The whole store, cast to the buffer's type:
    full = hist.pull(out=torch.empty(10, 3, dtype=torch.float64))
    assert full.dtype == torch.float64
    assert torch.equal(full, x.double())

    with pytest.raises(ValueError, match=r"'out' must have shape \[4, 3\]"):
        hist.pull(n_id, out=torch.empty(3, 3))
    with pytest.raises(ValueError, match="'out' must be contiguous"):
        hist.pull(n_id, out=torch.empty(3, 4).t())


def test_memory_storage_is_the_default():
    history = History(5, 3, storage='memory')
    assert history.storage == 'memory' and history.path is None
    assert repr(history) == 'History(5, 3)'
    assert not history.offload
