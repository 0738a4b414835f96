"""WGAN (Arjovsky et al.): critic trained n_critic times per generator step, weights clipped
in place through p.data.clamp_, RMSprop."""
import numpy as np
import torch
import torch.nn as nn

NZ, DIM, BATCH, N_CRITIC, CLIP = 4, 12, 8, 2, 0.05


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, size=tuple(p.shape))))
    return model


def block(n_in, n_out):
    return [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2, inplace=True)]


def run(steps):
    generator = init_from_numpy(nn.Sequential(*block(NZ, 16), nn.Linear(16, DIM),
                                              nn.Tanh()).double(), 5)
    critic = init_from_numpy(nn.Sequential(*block(DIM, 16), nn.Linear(16, 1)).double(), 6)
    optimizer_G = torch.optim.RMSprop(generator.parameters(), lr=5e-3)
    optimizer_D = torch.optim.RMSprop(critic.parameters(), lr=5e-3)
    rng = np.random.default_rng(2)
    losses = []
    for i in range(steps * N_CRITIC):
        real_imgs = torch.from_numpy(rng.uniform(-1, 1, (BATCH, DIM)))
        optimizer_D.zero_grad()
        z = torch.from_numpy(rng.normal(0, 1, (BATCH, NZ)))
        fake_imgs = generator(z).detach()
        loss_D = -torch.mean(critic(real_imgs)) + torch.mean(critic(fake_imgs))
        loss_D.backward()
        optimizer_D.step()
        for p in critic.parameters():
            p.data.clamp_(-CLIP, CLIP)
        losses.append(loss_D.item())
        if i % N_CRITIC == 0:
            optimizer_G.zero_grad()
            gen_imgs = generator(z)
            loss_G = -torch.mean(critic(gen_imgs))
            loss_G.backward()
            optimizer_G.step()
            losses.append(loss_G.item())
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in critic.named_parameters()})
    return {"losses": losses, "params": params}
