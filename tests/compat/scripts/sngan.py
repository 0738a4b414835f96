"""SNGAN (Miyato et al.): a discriminator whose layers go through
torch.nn.utils.parametrizations.spectral_norm (the newer parametrization API), hinge loss, two
D steps per G step, Adam with betas (0.0, 0.9); the spectral norm is removed at the end with
parametrize.remove_parametrizations, as for export."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

NZ, BATCH, N_DIS = 4, 6, 2


def init_from_numpy(model, seed):
    # Parameters and buffers (the power-iteration vectors u, v too) from NumPy.
    rng = np.random.default_rng(seed)
    state = {k: torch.from_numpy(rng.normal(0.0, 0.3, size=tuple(v.shape)))
             for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(NZ, 8 * 2 * 2)
        self.net = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(4, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        return self.net(self.fc(z).view(-1, 8, 2, 2))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(spectral_norm(nn.Conv2d(1, 4, 3, 2, 1)), nn.LeakyReLU(0.1),
                                 spectral_norm(nn.Conv2d(4, 8, 3, 2, 1)), nn.LeakyReLU(0.1))
        self.fc = spectral_norm(nn.Linear(8 * 2 * 2, 1))

    def forward(self, x):
        return self.fc(self.net(x).flatten(1))


def run(steps):
    netG = init_from_numpy(Generator().double(), 11)
    netD = init_from_numpy(Discriminator().double(), 12)
    optG = torch.optim.Adam(netG.parameters(), lr=2e-3, betas=(0.0, 0.9))
    optD = torch.optim.Adam(netD.parameters(), lr=2e-3, betas=(0.0, 0.9))
    rng = np.random.default_rng(5)
    losses = []
    for _ in range(steps):
        for _ in range(N_DIS):
            real = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, 8, 8)))
            z = torch.from_numpy(rng.standard_normal((BATCH, NZ)))
            optD.zero_grad()
            loss_d = F.relu(1.0 - netD(real)).mean() + F.relu(1.0 + netD(netG(z).detach())).mean()
            loss_d.backward()
            optD.step()
        z = torch.from_numpy(rng.standard_normal((BATCH, NZ)))
        optG.zero_grad()
        loss_g = -netD(netG(z)).mean()
        loss_g.backward()
        optG.step()
        losses += [loss_d.item(), loss_g.item()]
    params = {"G." + k: v.detach().numpy() for k, v in netG.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in netD.state_dict().items()})
    for m in [netD.net[0], netD.net[2], netD.fc]:
        parametrize.remove_parametrizations(m, "weight")
    assert not parametrize.is_parametrized(netD.fc)
    params.update({"D.removed." + k: v.detach().numpy() for k, v in netD.state_dict().items()})
    return {"losses": losses, "params": params}
