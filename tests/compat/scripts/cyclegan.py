"""CycleGAN-style unpaired translation (Zhu et al.): ResNet generators (ReflectionPad2d,
InstanceNorm2d, residual blocks), PatchGAN discriminators, cycle and identity L1 losses, an
image pool of past fakes, LambdaLR linear decay, and itertools.chain over both generators."""
import itertools

import numpy as np
import torch
import torch.nn as nn

BATCH, SIZE, LAMBDA_CYC, LAMBDA_ID, POOL = 2, 8, 10.0, 5.0, 3


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.2, size=tuple(p.shape))))
    return model


# Convolutions followed by InstanceNorm2d carry no bias: the norm removes any per-channel
# constant, so such a bias has an exact gradient of 0 and Adam would turn rounding noise in it
# into steps that no two frameworks share.


class ResidualBlock(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(in_features, in_features, 3, bias=False),
            nn.InstanceNorm2d(in_features), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(in_features, in_features, 3, bias=False),
            nn.InstanceNorm2d(in_features))

    def forward(self, x):
        return x + self.block(x)


class GeneratorResNet(nn.Module):
    def __init__(self, channels=1, num_residual_blocks=1):
        super().__init__()
        out_features = 4
        model = [nn.ReflectionPad2d(channels * 3), nn.Conv2d(channels, out_features, 7, bias=False),
                 nn.InstanceNorm2d(out_features), nn.ReLU(inplace=True)]
        in_features = out_features
        out_features *= 2
        model += [nn.Conv2d(in_features, out_features, 3, stride=2, padding=1, bias=False),
                  nn.InstanceNorm2d(out_features), nn.ReLU(inplace=True)]
        in_features = out_features
        for _ in range(num_residual_blocks):
            model += [ResidualBlock(out_features)]
        out_features //= 2
        model += [nn.Upsample(scale_factor=2),
                  nn.Conv2d(in_features, out_features, 3, 1, 1, bias=False),
                  nn.InstanceNorm2d(out_features), nn.ReLU(inplace=True)]
        model += [nn.ReflectionPad2d(channels * 3), nn.Conv2d(out_features, channels, 7),
                  nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class Discriminator(nn.Module):
    def __init__(self, channels=1):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(channels, 4, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4, 8, 4, stride=2, padding=1, bias=False), nn.InstanceNorm2d(8),
            nn.LeakyReLU(0.2, inplace=True), nn.ZeroPad2d((1, 0, 1, 0)),
            nn.Conv2d(8, 1, 4, padding=1))

    def forward(self, img):
        return self.model(img)


class ReplayBuffer:
    """The image pool: past fakes replayed half of the time (decided by a NumPy generator)."""

    def __init__(self, rng, max_size=POOL):
        self.max_size, self.data, self.rng = max_size, [], rng

    def push_and_pop(self, data):
        to_return = []
        for element in data.data:
            element = torch.unsqueeze(element, 0)
            if len(self.data) < self.max_size:
                self.data.append(element)
                to_return.append(element)
            elif self.rng.uniform(0, 1) > 0.5:
                i = int(self.rng.integers(0, self.max_size))
                to_return.append(self.data[i].clone())
                self.data[i] = element
            else:
                to_return.append(element)
        return torch.cat(to_return)


def run(steps):
    G_AB = init_from_numpy(GeneratorResNet().double(), 21)
    G_BA = init_from_numpy(GeneratorResNet().double(), 22)
    D_A = init_from_numpy(Discriminator().double(), 23)
    D_B = init_from_numpy(Discriminator().double(), 24)
    criterion_GAN, criterion_cycle, criterion_identity = (torch.nn.MSELoss(), torch.nn.L1Loss(),
                                                          torch.nn.L1Loss())
    optimizer_G = torch.optim.Adam(itertools.chain(G_AB.parameters(), G_BA.parameters()),
                                   lr=2e-4, betas=(0.5, 0.999))
    optimizer_D_A = torch.optim.Adam(D_A.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D_B = torch.optim.Adam(D_B.parameters(), lr=2e-4, betas=(0.5, 0.999))
    lr_scheduler_G = torch.optim.lr_scheduler.LambdaLR(
        optimizer_G, lr_lambda=lambda epoch: 1.0 - max(0, epoch - 1) / 4.0)
    rng = np.random.default_rng(10)
    fake_A_buffer, fake_B_buffer = ReplayBuffer(rng), ReplayBuffer(rng)
    losses = []
    for _ in range(steps):
        real_A = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, SIZE, SIZE)))
        real_B = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, SIZE, SIZE)))
        valid = torch.ones((BATCH, 1, SIZE // 4, SIZE // 4), dtype=torch.float64)
        fake = torch.zeros((BATCH, 1, SIZE // 4, SIZE // 4), dtype=torch.float64)
        G_AB.train()
        G_BA.train()
        optimizer_G.zero_grad()
        loss_identity = (criterion_identity(G_BA(real_A), real_A)
                         + criterion_identity(G_AB(real_B), real_B)) / 2
        fake_B = G_AB(real_A)
        fake_A = G_BA(real_B)
        loss_GAN = (criterion_GAN(D_B(fake_B), valid) + criterion_GAN(D_A(fake_A), valid)) / 2
        loss_cycle = (criterion_cycle(G_BA(fake_B), real_A)
                      + criterion_cycle(G_AB(fake_A), real_B)) / 2
        loss_G = loss_GAN + LAMBDA_CYC * loss_cycle + LAMBDA_ID * loss_identity
        loss_G.backward()
        optimizer_G.step()
        optimizer_D_A.zero_grad()
        fake_A_ = fake_A_buffer.push_and_pop(fake_A)
        loss_D_A = (criterion_GAN(D_A(real_A), valid)
                    + criterion_GAN(D_A(fake_A_.detach()), fake)) / 2
        loss_D_A.backward()
        optimizer_D_A.step()
        optimizer_D_B.zero_grad()
        fake_B_ = fake_B_buffer.push_and_pop(fake_B)
        loss_D_B = (criterion_GAN(D_B(real_B), valid)
                    + criterion_GAN(D_B(fake_B_.detach()), fake)) / 2
        loss_D_B.backward()
        optimizer_D_B.step()
        lr_scheduler_G.step()
        losses += [loss_G.item(), loss_cycle.item(), loss_identity.item(), loss_D_A.item(),
                   loss_D_B.item(), optimizer_G.param_groups[0]["lr"]]
    params = {}
    for name, net in (("G_AB", G_AB), ("G_BA", G_BA), ("D_A", D_A), ("D_B", D_B)):
        params.update({f"{name}.{k}": v.detach().numpy() for k, v in net.named_parameters()})
    return {"losses": losses, "params": params}
