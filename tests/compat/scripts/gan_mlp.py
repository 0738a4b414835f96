"""Vanilla GAN (Goodfellow et al.) with MLPs, BCELoss on sigmoid outputs, Adam; the
discriminator is a Sequential of named layers (OrderedDict) and a ModuleList of heads."""
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

NZ, DIM, BATCH = 6, 10, 8


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, size=tuple(p.shape))))
    return model


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(NZ, 16), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16, 16), nn.BatchNorm1d(16, 0.8), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16, DIM), nn.Tanh())

    def forward(self, z):
        return self.model(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(DIM, 16)), ("act1", nn.LeakyReLU(0.2, inplace=True))]))
        self.heads = nn.ModuleList([nn.Linear(16, 1), nn.Sigmoid()])

    def forward(self, x):
        out = self.model(x.view(x.size(0), -1))
        for layer in self.heads:
            out = layer(out)
        return out


def run(steps):
    generator = init_from_numpy(Generator().double(), 1)
    discriminator = init_from_numpy(Discriminator().double(), 2)
    adversarial_loss = torch.nn.BCELoss()
    optimizer_G = optim.Adam(generator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizer_D = optim.Adam(discriminator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        real = torch.from_numpy(rng.uniform(-1, 1, (BATCH, DIM)))
        valid = torch.ones(real.size(0), 1, dtype=torch.float64, requires_grad=False)
        fake = torch.zeros(real.size(0), 1, dtype=torch.float64, requires_grad=False)
        z = torch.from_numpy(rng.standard_normal((BATCH, NZ)))

        optimizer_G.zero_grad()
        gen = generator(z)
        g_loss = adversarial_loss(discriminator(gen), valid)
        g_loss.backward()
        optimizer_G.step()

        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(real), valid)
        fake_loss = adversarial_loss(discriminator(gen.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        losses += [g_loss.item(), d_loss.item()]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
