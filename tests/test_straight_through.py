"""The straight-through bits of the trained projection."""

import torch

from sklearn_pnet._torch_pnet import straight_through_bits


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
