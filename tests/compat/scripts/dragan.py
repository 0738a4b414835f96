"""DRAGAN (Kodali et al.): BCE GAN plus a gradient penalty around perturbed real data,
x_hat = x + alpha * 0.5 * std(x) * u, through autograd.grad(create_graph=True)."""
import numpy as np
import torch
import torch.nn as nn
from torch.autograd import Variable

NZ, DIM, BATCH, LAMBDA_GP = 4, 10, 8, 10.0


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, size=tuple(p.shape))))
    return model


def compute_gradient_penalty(D, X, rng):
    alpha = torch.from_numpy(rng.random((X.size(0), 1)))
    perturbed = X + 0.5 * X.std() * torch.from_numpy(rng.random(tuple(X.size())))
    interpolates = Variable(alpha * X + (1 - alpha) * perturbed, requires_grad=True)
    d_interpolates = D(interpolates)
    fake = Variable(torch.ones(d_interpolates.size(), dtype=torch.float64), requires_grad=False)
    gradients = torch.autograd.grad(outputs=d_interpolates, inputs=interpolates,
                                    grad_outputs=fake, create_graph=True, retain_graph=True,
                                    only_inputs=True)[0]
    return LAMBDA_GP * ((gradients.norm(2, dim=1) - 1) ** 2).mean()


def run(steps):
    generator = init_from_numpy(nn.Sequential(nn.Linear(NZ, 16), nn.ReLU(True),
                                              nn.Linear(16, DIM), nn.Tanh()).double(), 9)
    discriminator = init_from_numpy(nn.Sequential(nn.Linear(DIM, 16), nn.LeakyReLU(0.2, True),
                                                  nn.Linear(16, 1), nn.Sigmoid()).double(), 10)
    adversarial_loss = nn.BCELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    rng = np.random.default_rng(4)
    losses = []
    for _ in range(steps):
        real = Variable(torch.from_numpy(rng.uniform(-1, 1, (BATCH, DIM))))
        valid = Variable(torch.ones(BATCH, 1, dtype=torch.float64).fill_(1.0),
                         requires_grad=False)
        fake = Variable(torch.zeros(BATCH, 1, dtype=torch.float64), requires_grad=False)
        optimizer_G.zero_grad()
        gen = generator(torch.from_numpy(rng.normal(0, 1, (BATCH, NZ))))
        g_loss = adversarial_loss(discriminator(gen), valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(real), valid)
        fake_loss = adversarial_loss(discriminator(gen.detach()), fake)
        gp = compute_gradient_penalty(discriminator, real.data, rng)
        d_loss = (real_loss + fake_loss) / 2 + gp
        d_loss.backward()
        optimizer_D.step()
        losses += [g_loss.item(), d_loss.item(), gp.item()]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
