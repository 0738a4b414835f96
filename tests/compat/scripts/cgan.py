"""Conditional GAN (Mirza & Osindero): label embeddings concatenated with the noise (G) and
the flattened image (D), MSELoss as in many PyTorch implementations."""
import numpy as np
import torch
import torch.nn as nn

N_CLASSES, NZ, DIM, BATCH = 3, 4, 9, 6


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, size=tuple(p.shape))))
    return model


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(N_CLASSES, N_CLASSES)
        self.model = nn.Sequential(nn.Linear(NZ + N_CLASSES, 16), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Linear(16, DIM), nn.Tanh())

    def forward(self, noise, labels):
        gen_input = torch.cat((self.label_emb(labels), noise), -1)
        img = self.model(gen_input)
        return img.view(img.size(0), 1, 3, 3)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_embedding = nn.Embedding(N_CLASSES, N_CLASSES)
        self.model = nn.Sequential(nn.Linear(N_CLASSES + DIM, 16),
                                   nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 1))

    def forward(self, img, labels):
        d_in = torch.cat((img.view(img.size(0), -1), self.label_embedding(labels)), -1)
        return self.model(d_in)


def run(steps):
    generator = init_from_numpy(Generator().double(), 13)
    discriminator = init_from_numpy(Discriminator().double(), 14)
    adversarial_loss = torch.nn.MSELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    rng = np.random.default_rng(6)
    losses = []
    for _ in range(steps):
        real_imgs = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, 3, 3)))
        labels = torch.from_numpy(rng.integers(0, N_CLASSES, BATCH))
        valid = torch.ones(BATCH, 1, dtype=torch.float64)
        fake = torch.zeros(BATCH, 1, dtype=torch.float64)
        optimizer_G.zero_grad()
        z = torch.from_numpy(rng.normal(0, 1, (BATCH, NZ)))
        gen_labels = torch.LongTensor(rng.integers(0, N_CLASSES, BATCH))
        gen_imgs = generator(z, gen_labels)
        g_loss = adversarial_loss(discriminator(gen_imgs, gen_labels), valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        d_real_loss = adversarial_loss(discriminator(real_imgs, labels), valid)
        d_fake_loss = adversarial_loss(discriminator(gen_imgs.detach(), gen_labels), fake)
        d_loss = (d_real_loss + d_fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        losses += [g_loss.item(), d_loss.item()]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
