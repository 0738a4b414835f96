"""DCGAN (Radford et al.) on 8x8 single-channel images, in the style of the classic PyTorch
example: a DataLoader over a TensorDataset, weights_init through Module.apply, BCELoss, label
tensors filled in place, D updated on real then fake, then G."""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

NZ, NGF, NDF, BATCH = 4, 8, 8, 6


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.2, size=tuple(p.shape))))
    return model


def weights_init(m):
    # Deterministic parts of the usual DCGAN init (the random draws come from NumPy above).
    classname = m.__class__.__name__
    if classname.find("BatchNorm") != -1:
        nn.init.constant_(m.weight.data, 1.0)
        m.bias.data.fill_(0)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 2, 4, 1, 0, bias=False),   # 1 -> 4
            nn.BatchNorm2d(NGF * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, 1, 4, 2, 1, bias=False),    # 4 -> 8
            nn.Tanh())

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, NDF, 4, 2, 1, bias=False),                 # 8 -> 4
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),           # 4 -> 2
            nn.BatchNorm2d(NDF * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, 1, 2, 1, 0, bias=False),
            nn.Sigmoid())

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def run(steps):
    netG = init_from_numpy(Generator().double(), 1)
    netG.apply(weights_init)
    netD = init_from_numpy(Discriminator().double(), 2)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
    real_label, fake_label = 1.0, 0.0
    rng = np.random.default_rng(0)
    dataset = TensorDataset(torch.from_numpy(rng.uniform(-1, 1, (steps * BATCH, 1, 8, 8))))
    dataloader = DataLoader(dataset, batch_size=BATCH, shuffle=False, num_workers=0)
    losses = []
    for i, data in enumerate(dataloader, 0):
        real_cpu = data[0]
        batch_size = real_cpu.size(0)
        # (1) D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.from_numpy(rng.standard_normal((batch_size, NZ, 1, 1)))
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        losses += [errD.item(), errG.item(), D_x, D_G_z2]
    params = {"G." + k: v.detach().numpy() for k, v in netG.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in netD.named_parameters()})
    params["D.bn.running_var"] = netD.main[3].running_var.numpy()
    return {"losses": losses, "params": params}
