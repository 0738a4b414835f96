"""BEGAN (Berthelot et al.): an auto-encoder discriminator (ELU, Upsample), L1 reconstruction
losses and the proportional control of k_t through .item()."""
import numpy as np
import torch
import torch.nn as nn

NZ, BATCH, SIZE, GAMMA, LAMBDA_K = 4, 4, 8, 0.75, 0.001


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.2, size=tuple(p.shape))))
    return model


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NZ, 4 * (SIZE // 2) ** 2)
        self.conv_blocks = nn.Sequential(nn.BatchNorm2d(4), nn.Upsample(scale_factor=2),
                                         nn.Conv2d(4, 4, 3, 1, 1), nn.ELU(inplace=True),
                                         nn.Conv2d(4, 1, 3, 1, 1), nn.Tanh())

    def forward(self, z):
        out = self.l1(z).view(z.shape[0], 4, SIZE // 2, SIZE // 2)
        return self.conv_blocks(out)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.ELU())
        self.fc = nn.Sequential(nn.Linear(4 * (SIZE // 2) ** 2, 6), nn.BatchNorm1d(6, 0.8),
                                nn.ELU(), nn.Linear(6, 4 * (SIZE // 2) ** 2), nn.ELU())
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(4, 1, 3, 1, 1))

    def forward(self, img):
        out = self.down(img)
        out = self.fc(out.view(out.size(0), -1))
        return self.up(out.view(out.size(0), 4, SIZE // 2, SIZE // 2))


def run(steps):
    generator = init_from_numpy(Generator().double(), 11)
    discriminator = init_from_numpy(Discriminator().double(), 12)
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    rng = np.random.default_rng(5)
    k = 0.0
    losses = []
    for _ in range(steps):
        real_imgs = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, SIZE, SIZE)))
        optimizer_G.zero_grad()
        z = torch.from_numpy(rng.normal(0, 1, (BATCH, NZ)))
        gen_imgs = generator(z)
        g_loss = torch.mean(torch.abs(discriminator(gen_imgs) - gen_imgs))
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        d_real = discriminator(real_imgs)
        d_fake = discriminator(gen_imgs.detach())
        d_loss_real = torch.mean(torch.abs(d_real - real_imgs))
        d_loss_fake = torch.mean(torch.abs(d_fake - gen_imgs.detach()))
        d_loss = d_loss_real - k * d_loss_fake
        d_loss.backward()
        optimizer_D.step()
        diff = torch.mean(GAMMA * d_loss_real - d_loss_fake)
        k = k + LAMBDA_K * diff.item()
        k = min(max(k, 0), 1)
        M = (d_loss_real + torch.abs(diff)).item()
        losses += [g_loss.item(), d_loss.item(), M, k]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
