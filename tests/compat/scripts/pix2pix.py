"""pix2pix-style paired translation (Isola et al.): a U-Net generator (InstanceNorm2d, skip
connections by torch.cat, Upsample + ZeroPad2d head) and a PatchGAN discriminator on the
(condition, image) pair; MSE adversarial loss plus lambda * L1 to the target."""
import numpy as np
import torch
import torch.nn as nn

BATCH, SIZE, LAMBDA_PIXEL = 2, 16, 100.0


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.2, size=tuple(p.shape))))
    return model


class UNetDown(nn.Module):
    def __init__(self, in_size, out_size, normalize=True):
        super().__init__()
        layers = [nn.Conv2d(in_size, out_size, 4, 2, 1, bias=False)]
        if normalize:
            layers.append(nn.InstanceNorm2d(out_size))
        layers.append(nn.LeakyReLU(0.2))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UNetUp(nn.Module):
    def __init__(self, in_size, out_size):
        super().__init__()
        self.model = nn.Sequential(nn.ConvTranspose2d(in_size, out_size, 4, 2, 1, bias=False),
                                   nn.InstanceNorm2d(out_size), nn.ReLU(inplace=True))

    def forward(self, x, skip_input):
        return torch.cat((self.model(x), skip_input), 1)


class GeneratorUNet(nn.Module):
    def __init__(self, in_channels=1, out_channels=1):
        super().__init__()
        self.down1 = UNetDown(in_channels, 4, normalize=False)   # 16 -> 8
        self.down2 = UNetDown(4, 8)                               # 8 -> 4
        self.down3 = UNetDown(8, 8)                               # 4 -> 2
        self.up1 = UNetUp(8, 8)                                   # 2 -> 4, cat -> 16 ch
        self.up2 = UNetUp(16, 4)                                  # 4 -> 8, cat -> 8 ch
        self.final = nn.Sequential(nn.Upsample(scale_factor=2), nn.ZeroPad2d((1, 0, 1, 0)),
                                   nn.Conv2d(8, out_channels, 4, padding=1), nn.Tanh())

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        u1 = self.up1(d3, d2)
        u2 = self.up2(u1, d1)
        return self.final(u2)


class Discriminator(nn.Module):
    def __init__(self, in_channels=1):
        super().__init__()

        def discriminator_block(in_filters, out_filters, normalization=True):
            # no bias before InstanceNorm2d: its exact gradient is 0 (see cyclegan.py)
            layers = [nn.Conv2d(in_filters, out_filters, 4, stride=2, padding=1,
                                bias=not normalization)]
            if normalization:
                layers.append(nn.InstanceNorm2d(out_filters))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *discriminator_block(in_channels * 2, 4, normalization=False),   # 16 -> 8
            *discriminator_block(4, 8),                                       # 8 -> 4
            nn.ZeroPad2d((1, 0, 1, 0)),
            nn.Conv2d(8, 1, 4, padding=1, bias=False))                        # 4 -> 4 patches

    def forward(self, img_A, img_B):
        return self.model(torch.cat((img_A, img_B), 1))


def run(steps):
    generator = init_from_numpy(GeneratorUNet().double(), 19)
    discriminator = init_from_numpy(Discriminator().double(), 20)
    criterion_GAN = torch.nn.MSELoss()
    criterion_pixelwise = torch.nn.L1Loss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    patch = (1, SIZE // 4, SIZE // 4)
    rng = np.random.default_rng(9)
    losses = []
    for _ in range(steps):
        real_A = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, SIZE, SIZE)))
        real_B = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, SIZE, SIZE)))
        valid = torch.from_numpy(np.ones((real_A.size(0), *patch)))
        fake = torch.from_numpy(np.zeros((real_A.size(0), *patch)))
        optimizer_G.zero_grad()
        fake_B = generator(real_A)
        pred_fake = discriminator(fake_B, real_A)
        loss_GAN = criterion_GAN(pred_fake, valid)
        loss_pixel = criterion_pixelwise(fake_B, real_B)
        loss_G = loss_GAN + LAMBDA_PIXEL * loss_pixel
        loss_G.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        loss_real = criterion_GAN(discriminator(real_B, real_A), valid)
        loss_fake = criterion_GAN(discriminator(fake_B.detach(), real_A), fake)
        loss_D = 0.5 * (loss_real + loss_fake)
        loss_D.backward()
        optimizer_D.step()
        losses += [loss_G.item(), loss_pixel.item(), loss_D.item()]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
