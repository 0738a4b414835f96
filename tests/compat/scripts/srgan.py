"""SRGAN-style super-resolution (Ledig et al.): a residual generator with PReLU and sub-pixel
(PixelShuffle) upsampling, a conv discriminator, and a content loss in the feature space of a
frozen feature extractor (a small fixed network standing in for VGG, MaxPool2d and
AdaptiveAvgPool2d inside), plus 1e-3 times the adversarial loss."""
import numpy as np
import torch
import torch.nn as nn

BATCH, LR, HR = 2, 4, 8


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.2, size=tuple(p.shape))))
    return model


class FeatureExtractor(nn.Module):
    def __init__(self):
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(4, 4, 3, 1, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2))

    def forward(self, img):
        return self.feature_extractor(img)


class ResidualBlock(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(in_features, in_features, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(in_features, 0.8), nn.PReLU(),
            nn.Conv2d(in_features, in_features, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(in_features, 0.8))

    def forward(self, x):
        return x + self.conv_block(x)


class GeneratorResNet(nn.Module):
    def __init__(self, channels=4, n_residual_blocks=2):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, channels, kernel_size=5, stride=1, padding=2),
                                   nn.PReLU())
        self.res_blocks = nn.Sequential(*[ResidualBlock(channels)
                                          for _ in range(n_residual_blocks)])
        self.conv2 = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1),
                                   nn.BatchNorm2d(channels, 0.8))
        self.upsampling = nn.Sequential(nn.Conv2d(channels, channels * 4, 3, 1, 1),
                                        nn.BatchNorm2d(channels * 4), nn.PixelShuffle(2),
                                        nn.PReLU(channels))
        self.conv3 = nn.Sequential(nn.Conv2d(channels, 1, kernel_size=5, stride=1, padding=2),
                                   nn.Tanh())

    def forward(self, x):
        out1 = self.conv1(x)
        out = self.res_blocks(out1)
        out = torch.add(out1, self.conv2(out))
        return self.conv3(self.upsampling(out))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(1, 4, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4, 4, 3, 2, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4, 1, 3, 1, 1))

    def forward(self, img):
        return self.model(img)


def run(steps):
    generator = init_from_numpy(GeneratorResNet().double(), 25)
    discriminator = init_from_numpy(Discriminator().double(), 26)
    feature_extractor = init_from_numpy(FeatureExtractor().double(), 27)
    feature_extractor.eval()
    for p in feature_extractor.parameters():
        p.requires_grad = False
    criterion_GAN = torch.nn.MSELoss()
    criterion_content = torch.nn.L1Loss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rng = np.random.default_rng(11)
    losses = []
    for _ in range(steps):
        imgs_hr = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, HR, HR)))
        imgs_lr = nn.functional.avg_pool2d(imgs_hr, 2)
        valid = torch.ones((BATCH, 1, HR // 2, HR // 2), dtype=torch.float64)
        fake = torch.zeros((BATCH, 1, HR // 2, HR // 2), dtype=torch.float64)
        optimizer_G.zero_grad()
        gen_hr = generator(imgs_lr)
        loss_GAN = criterion_GAN(discriminator(gen_hr), valid)
        gen_features = feature_extractor(gen_hr)
        real_features = feature_extractor(imgs_hr)
        loss_content = criterion_content(gen_features, real_features.detach())
        loss_G = loss_content + 1e-3 * loss_GAN
        loss_G.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        loss_real = criterion_GAN(discriminator(imgs_hr), valid)
        loss_fake = criterion_GAN(discriminator(gen_hr.detach()), fake)
        loss_D = (loss_real + loss_fake) / 2
        loss_D.backward()
        optimizer_D.step()
        losses += [loss_G.item(), loss_content.item(), loss_D.item()]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
