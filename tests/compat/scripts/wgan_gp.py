"""WGAN-GP (Gulrajani et al.): gradient penalty on random interpolates through
autograd.grad(create_graph=True), Adam with betas (0.5, 0.9)."""
import numpy as np
import torch
import torch.autograd as autograd
import torch.nn as nn

NZ, BATCH, LAMBDA_GP = 4, 6, 10.0


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, size=tuple(p.shape))))
    return model


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(NZ, 16), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Linear(16, 36), nn.Tanh())

    def forward(self, z):
        return self.model(z).view(z.size(0), 1, 6, 6)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Flatten(), nn.Linear(4 * 3 * 3, 8),
                                   nn.LeakyReLU(0.2, inplace=True), nn.Linear(8, 1))

    def forward(self, img):
        return self.model(img)


def compute_gradient_penalty(D, real_samples, fake_samples, rng):
    alpha = torch.from_numpy(rng.random((real_samples.size(0), 1, 1, 1)))
    interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
    d_interpolates = D(interpolates)
    fake = torch.ones(real_samples.shape[0], 1, dtype=torch.float64)
    gradients = autograd.grad(outputs=d_interpolates, inputs=interpolates, grad_outputs=fake,
                              create_graph=True, retain_graph=True, only_inputs=True)[0]
    gradients = gradients.view(gradients.size(0), -1)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


def run(steps):
    generator = init_from_numpy(Generator().double(), 7)
    discriminator = init_from_numpy(Discriminator().double(), 8)
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    rng = np.random.default_rng(3)
    losses = []
    for _ in range(steps):
        real_imgs = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, 6, 6)))
        optimizer_D.zero_grad()
        z = torch.from_numpy(rng.normal(0, 1, (BATCH, NZ)))
        fake_imgs = generator(z)
        real_validity = discriminator(real_imgs)
        fake_validity = discriminator(fake_imgs.detach())
        gradient_penalty = compute_gradient_penalty(discriminator, real_imgs, fake_imgs.detach(),
                                                    rng)
        d_loss = -torch.mean(real_validity) + torch.mean(fake_validity) \
            + LAMBDA_GP * gradient_penalty
        d_loss.backward()
        optimizer_D.step()
        optimizer_G.zero_grad()
        g_loss = -torch.mean(discriminator(generator(z)))
        g_loss.backward()
        optimizer_G.step()
        losses += [d_loss.item(), gradient_penalty.item(), g_loss.item()]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
