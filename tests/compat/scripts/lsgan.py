"""LSGAN (Mao et al.): least-squares losses (MSELoss) with an Upsample + Conv generator."""
import numpy as np
import torch
import torch.nn as nn

NZ, BATCH, SIZE = 5, 4, 8


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.2, size=tuple(p.shape))))
    return model


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.init_size = SIZE // 2
        self.l1 = nn.Sequential(nn.Linear(NZ, 8 * self.init_size ** 2))
        self.conv_blocks = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(8, 8, 3, stride=1, padding=1),
            nn.BatchNorm2d(8, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(8, 1, 3, stride=1, padding=1),
            nn.Tanh())

    def forward(self, z):
        out = self.l1(z)
        out = out.view(out.shape[0], 8, self.init_size, self.init_size)
        return self.conv_blocks(out)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Conv2d(8, 8, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True))
        self.adv_layer = nn.Linear(8 * (SIZE // 4) ** 2, 1)

    def forward(self, img):
        out = self.model(img)
        return self.adv_layer(out.view(out.shape[0], -1))


def run(steps):
    generator = init_from_numpy(Generator().double(), 3)
    discriminator = init_from_numpy(Discriminator().double(), 4)
    adversarial_loss = torch.nn.MSELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        imgs = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, SIZE, SIZE)))
        valid = torch.ones(imgs.shape[0], 1).double()
        fake = torch.zeros(imgs.shape[0], 1).double()
        optimizer_G.zero_grad()
        z = torch.from_numpy(rng.normal(0, 1, (imgs.shape[0], NZ)))
        gen_imgs = generator(z)
        g_loss = adversarial_loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(imgs), valid)
        fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
        d_loss = 0.5 * (real_loss + fake_loss)
        d_loss.backward()
        optimizer_D.step()
        losses += [g_loss.item(), d_loss.item()]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
