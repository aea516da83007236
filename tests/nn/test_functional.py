import pytest
import torch

from pyg_gas.nn.functional import dropout, prepend_rows


@pytest.mark.parametrize('p', [0.1, 0.3, 0.5, 0.9])
def test_dropout_rate_and_expectation(p):
    torch.manual_seed(0)
    x = torch.rand(200, 301) + 0.5  # Odd size: the last 64-bit draw is cut.
    out = dropout(x, p, training=True)
    dropped = out == 0
    n = x.numel()
    se = (p * (1 - p) / n)**0.5
    assert abs(float(dropped.float().mean()) - p) < 5 * se
    # Kept entries are scaled by 1 / (1 - p_eff), p_eff the rounded p:
    p_eff = round(p * 65536) / 65536
    torch.testing.assert_close(out[~dropped], x[~dropped] / (1 - p_eff))
    # Unbiased: the mean over many masks converges to x.
    mean = torch.stack([dropout(x, p) for _ in range(400)]).mean(0)
    std = x * (p / (1 - p) / 400)**0.5
    z = ((mean - x) / std).abs()
    assert float(z.mean()) < 1.0  # |N(0, 1)| has mean 0.8.
    # Each column and each lane of the packed draws drops alike:
    col_rate = dropped.float().mean(0)
    assert float((col_rate - p).abs().max()) < 6 * (p * (1 - p) / 200)**0.5


def test_dropout_modes_gradient_and_seed():
    x = torch.randn(50, 8, requires_grad=True)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    torch.manual_seed(1)
    out = dropout(x, 0.25)
    out.sum().backward()
    keep = out != 0
    expected = keep.float() / (1 - round(0.25 * 65536) / 65536)
    torch.testing.assert_close(x.grad, expected)
    torch.manual_seed(1)
    assert torch.equal(dropout(x, 0.25), out)  # Seeded runs repeat.
    # Non-contiguous inputs:
    y = torch.randn(8, 50).t()
    assert dropout(y, 0.5).shape == (50, 8)
    with pytest.raises(ValueError, match="'p' must be a probability"):
        dropout(x, 1.5)
    with pytest.raises(ValueError, match="'p' must be a probability"):
        dropout(x, -0.1)


def test_prepend_rows_equals_cat():
    x = torch.randn(3, 4, requires_grad=True)
    halo = torch.randn(5, 4)
    out = torch.empty(8, 4)
    out[3:] = halo
    y = prepend_rows(x * 2, out)
    assert y.data_ptr() == out.data_ptr()  # In place.
    torch.testing.assert_close(y, torch.cat([x * 2, halo]))
    weight = torch.randn(8, 4)
    (y * weight).sum().backward()
    torch.testing.assert_close(x.grad, 2 * weight[:3])
    with pytest.raises(ValueError, match='does not fit'):
        prepend_rows(torch.randn(9, 4), torch.empty(8, 4))
    with pytest.raises(ValueError, match='does not fit'):
        prepend_rows(torch.randn(2, 3), torch.empty(8, 4))
    with pytest.raises(ValueError, match='must not require gradients'):
        prepend_rows(x, torch.empty(8, 4, requires_grad=True))
