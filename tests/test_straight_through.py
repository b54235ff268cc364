"""The straight-through bits of the trained projection."""

import numpy as np
import pytest
import torch

from sklearn_pnet._torch_pnet import batch_std, straight_through_bits


def test_bits_are_the_signs():
    z = torch.tensor([[-2.0, 0.0], [0.5, 3.0]])
    assert straight_through_bits(z).tolist() == [[0.0, 0.0], [1.0, 1.0]]


def test_gradient_is_clipped_on_each_bits_own_scale():
    # Bit 0 has batch std 1: gradient 1 inside [-1, 1], 0 beyond. Bit 1 is
    # the same column times 100: same pattern, gradients divided by 100.
    column = torch.tensor([-3.0, -0.5, 0.5, 3.0])
    column = column / column.std(correction=0)
    z = torch.stack([column, 100 * column], dim=1).requires_grad_()
    straight_through_bits(z).sum().backward()
    inside = (column.abs() <= 1).float()
    torch.testing.assert_close(z.grad[:, 0], inside)
    torch.testing.assert_close(z.grad[:, 1], inside / 100)


def test_constant_bit_and_single_row_get_a_gradient():
    # A zero standard deviation (one row, or a constant bit) must not divide
    # by zero: the scale falls back to 1.
    z = torch.tensor([[0.3, -0.2]], requires_grad=True)
    straight_through_bits(z).sum().backward()
    assert torch.isfinite(z.grad).all()
    torch.testing.assert_close(z.grad, torch.ones_like(z))


@pytest.mark.parametrize("shape", [(1, 3), (2, 1), (200, 256), (37, 720)])
def test_batch_std_is_torchs_std_bit_for_bit(shape):
    # The compiled kernel repeats torch's Welford recurrence: the same
    # float32 bits, so training is the same whichever computes the scale.
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(shape, generator=generator) * 37.5 + 3.0
    z[:, 0] = 1.25  # a constant column: std exactly 0
    expected = z.std(dim=0, correction=0, keepdim=True)
    got = batch_std(z)
    assert got.shape == expected.shape
    assert torch.equal(got.view(torch.int32), expected.view(torch.int32))


def test_batch_std_of_a_non_contiguous_batch():
    z = torch.randn(64, 50).t()
    assert torch.equal(batch_std(z), z.std(dim=0, correction=0, keepdim=True))


def test_column_std_kernel_rejects_wrong_shapes():
    from sklearn_pnet._torch_pnet import column_std

    if column_std is None:
        pytest.skip("the compiled kernel is not built")
    z = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="n_rows x n_cols"):
        column_std(z, np.empty(2, dtype=np.float32), 4, 3)
    with pytest.raises(TypeError, match="items of 8 bytes"):
        column_std(z.astype(np.float64), np.empty(3, dtype=np.float32), 4, 3)


def test_gradient_is_autograds_through_the_clamp():
    # The one-node function passes back what autograd would through
    # (z > 0) + clamp(z / s, -1, 1) - clamp(z / s, -1, 1).detach().
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(50, 20, generator=generator) * 3
    upstream = torch.randn(50, 20, generator=generator)
    scale = batch_std(z)
    reference = z.clone().requires_grad_()
    surrogate = torch.clamp(reference / scale, -1.0, 1.0)
    bits = (reference > 0).to(z.dtype) + (surrogate - surrogate.detach())
    (bits * upstream).sum().backward()
    fused = z.clone().requires_grad_()
    out = straight_through_bits(fused)
    (out * upstream).sum().backward()
    assert torch.equal(out, bits.detach())
    assert torch.equal(fused.grad, reference.grad)


def test_compiled_gradient_is_the_torch_one_to_the_bit(monkeypatch):
    from sklearn_pnet import _torch_pnet

    if _torch_pnet.straight_through_grad is None:
        pytest.skip("the compiled kernel is not built")
    generator = torch.Generator().manual_seed(2)
    z = torch.randn(64, 33, generator=generator) * 5
    z[:, 3] = 0.5  # a constant bit: scale 1
    upstream = torch.randn(64, 33, generator=generator)
    grads = []
    for compiled in (True, False):
        with monkeypatch.context() as patch:
            if not compiled:
                patch.setattr(_torch_pnet, "straight_through_grad", None)
            leaf = z.clone().requires_grad_()
            straight_through_bits(leaf).backward(upstream)
            grads.append(leaf.grad)
    assert (grads[0] == 0).any() and (grads[0] != 0).any()
    assert torch.equal(grads[0].view(torch.int32), grads[1].view(torch.int32))
