"""Return conditioning with classifier-free guidance (``diffusion.objective: return``): the network's null
condition, the guided combination at sampling, and the training step's condition dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rayeaq.generators.eaq.config import DiffusionConfig, FitConfig
from rayeaq.generators.eaq.layout import Layout, Normalizer
from rayeaq.generators.eaq.sample import Generator
from rayeaq.generators.eaq.train import TrainData, Trainer
from rayeaq.generators.eaq.unet import TemporalUNet

LAYOUT = Layout(2, 3, 6, 4, 7, 8, True, True)  # F = 2·(3+6+6) + 4 + 3 = 37 channels, 8 rows


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def trainer(q_weight: float = 2.0) -> Trainer:
    torch.manual_seed(0)
    dcfg = DiffusionConfig(
        dim=8, dim_mults=[1, 2], groups=4, n_diffusion_steps=10, objective="return", q_weight=q_weight
    )
    low, high = np.full(LAYOUT.channels, -1.0, np.float32), np.full(LAYOUT.channels, 3.0, np.float32)
    return Trainer(dcfg, FitConfig(steps=3, batch_size=4, ema_start=0), LAYOUT, Normalizer(low, high))


def test_null_condition_is_the_unconditional_model():
    torch.manual_seed(0)
    net = TemporalUNet(5, 8, (1, 2), 3, 4, conditioned=True)
    with torch.no_grad():
        net.null_emb.normal_()
    x, k = torch.randn(3, 5, 8), torch.tensor([0, 4, 9])
    cond = torch.tensor([-1.0, 0.0, 1.0])
    uncond = net(x, k)
    torch.testing.assert_close(net(x, k, cond, torch.ones(3, dtype=torch.bool)), uncond)
    mixed = net(x, k, cond, torch.tensor([True, False, True]))
    torch.testing.assert_close(mixed[[0, 2]], uncond[[0, 2]])
    assert not torch.allclose(mixed[1], uncond[1])
    # the condition reaches the output: two returns give two predictions
    assert not torch.allclose(net(x, k, cond), net(x, k, -cond))


def test_guided_denoiser_combines_conditional_and_unconditional():
    tr = trainer()
    with torch.no_grad():
        tr.model.denoiser.null_emb.normal_()
    payload = tr.payload({"spec": {"max_return": 2.0}, "dataset": {}, "history": [], "resumed_from": 0})
    gen = Generator(payload, use_ema=False)
    x, k = torch.randn(2, LAYOUT.channels, LAYOUT.rows), torch.tensor([3, 7])
    # R* = return_target × max_return = 2.0 on the Q-total channel's normalised scale [-1, 3] -> 0.5
    target = torch.full((2,), 0.5)
    with torch.no_grad():
        uncond = gen.denoiser(x, k)
        cond = gen.denoiser(x, k, target)
        torch.testing.assert_close(gen.denoise_fn(0.0)(x, k), uncond)
        torch.testing.assert_close(gen.denoise_fn(1.0)(x, k), cond, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(gen.denoise_fn()(x, k), uncond + 2.0 * (cond - uncond), atol=1e-5, rtol=1e-5)


def test_return_objective_trains_conditional_and_unconditional_windows():
    tr = trainer()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, LAYOUT.channels, LAYOUT.rows) * 2 - 1
    data = TrainData(x, torch.ones(16, LAYOUT.rows, dtype=torch.bool))
    before = tr.model.denoiser.null_emb.detach().clone(), tr.model.denoiser.cond_emb[0].weight.detach().clone()
    for _ in range(3):
        losses = tr.train_step(data, gen)
    assert set(losses) == {"recon", "loss"} and np.isfinite(losses["loss"])
    # both the null embedding and the condition's embedding receive gradients (cond_drop = 0.25 of 12 windows)
    assert not torch.equal(before[0], tr.model.denoiser.null_emb)
    assert not torch.equal(before[1], tr.model.denoiser.cond_emb[0].weight)


def test_non_finite_samples_are_one_clear_error():
    from rayeaq.generators.eaq.sample import NonFiniteSampleError

    tr = trainer()
    with torch.no_grad():
        tr.model.denoiser.null_emb.normal_()
    gen = Generator(tr.payload({"spec": {"max_return": 2.0}, "dataset": {}, "history": [], "resumed_from": 0}), False)
    gen.sample(2, "ddim", 3, seed=0, batch_size=2)  # a sane scale samples
    with pytest.raises(NonFiniteSampleError, match=r"not finite .* guidance scale \(diffusion.q_weight=1e\+39\)"):
        gen.sample(2, "ddim", 3, seed=0, batch_size=2, guidance=1e39)
