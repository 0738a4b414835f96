"""InfoGAN (Chen et al.): categorical and continuous codes fed to G, recovered by Q heads
on D; the information loss (CrossEntropy + MSE) updates G and D together through
itertools.chain of their parameters."""
import itertools

import numpy as np
import torch
import torch.nn as nn

N_CLASSES, CODE_DIM, NZ, BATCH, DIM = 3, 2, 4, 6, 16
LAMBDA_CAT, LAMBDA_CON = 1.0, 0.1


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, size=tuple(p.shape))))
    return model


def to_categorical(y, num_columns):
    """One-hot encoding, built in NumPy."""
    y_cat = np.zeros((y.shape[0], num_columns))
    y_cat[range(y.shape[0]), y] = 1.0
    return torch.from_numpy(y_cat)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(NZ + N_CLASSES + CODE_DIM, 16),
                                   nn.BatchNorm1d(16), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Linear(16, DIM), nn.Tanh())

    def forward(self, noise, labels, code):
        return self.model(torch.cat((noise, labels, code), -1))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(DIM, 16), nn.LeakyReLU(0.2, inplace=True))
        self.adv_layer = nn.Sequential(nn.Linear(16, 1))
        self.aux_layer = nn.Sequential(nn.Linear(16, N_CLASSES), nn.Softmax(dim=1))
        self.latent_layer = nn.Sequential(nn.Linear(16, CODE_DIM))

    def forward(self, x):
        out = self.body(x)
        return self.adv_layer(out), self.aux_layer(out), self.latent_layer(out)


def run(steps):
    generator = init_from_numpy(Generator().double(), 17)
    discriminator = init_from_numpy(Discriminator().double(), 18)
    adversarial_loss = torch.nn.MSELoss()
    categorical_loss = torch.nn.CrossEntropyLoss()
    continuous_loss = torch.nn.MSELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    optimizer_info = torch.optim.Adam(
        itertools.chain(generator.parameters(), discriminator.parameters()), lr=1e-3,
        betas=(0.5, 0.999))
    rng = np.random.default_rng(8)
    losses = []
    for _ in range(steps):
        real = torch.from_numpy(rng.uniform(-1, 1, (BATCH, DIM)))
        valid = torch.ones(BATCH, 1, dtype=torch.float64)
        fake = torch.zeros(BATCH, 1, dtype=torch.float64)
        optimizer_G.zero_grad()
        z = torch.from_numpy(rng.normal(0, 1, (BATCH, NZ)))
        label_input = to_categorical(rng.integers(0, N_CLASSES, BATCH), N_CLASSES)
        code_input = torch.from_numpy(rng.uniform(-1, 1, (BATCH, CODE_DIM)))
        gen = generator(z, label_input, code_input)
        validity, _, _ = discriminator(gen)
        g_loss = adversarial_loss(validity, valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        real_pred, _, _ = discriminator(real)
        fake_pred, _, _ = discriminator(gen.detach())
        d_loss = (adversarial_loss(real_pred, valid) + adversarial_loss(fake_pred, fake)) / 2
        d_loss.backward()
        optimizer_D.step()
        # Information loss
        optimizer_info.zero_grad()
        sampled_labels = rng.integers(0, N_CLASSES, BATCH)
        gt_labels = torch.from_numpy(sampled_labels)
        z = torch.from_numpy(rng.normal(0, 1, (BATCH, NZ)))
        label_input = to_categorical(sampled_labels, N_CLASSES)
        code_input = torch.from_numpy(rng.uniform(-1, 1, (BATCH, CODE_DIM)))
        gen = generator(z, label_input, code_input)
        _, pred_label, pred_code = discriminator(gen)
        info_loss = LAMBDA_CAT * categorical_loss(pred_label, gt_labels) \
            + LAMBDA_CON * continuous_loss(pred_code, code_input)
        info_loss.backward()
        optimizer_info.step()
        losses += [g_loss.item(), d_loss.item(), info_loss.item()]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
