"""AC-GAN (Odena et al.): G conditioned by multiplying noise with a label embedding; D has an
adversarial head (BCELoss) and an auxiliary class head (CrossEntropyLoss on logits)."""
import numpy as np
import torch
import torch.nn as nn

N_CLASSES, NZ, BATCH, SIZE = 3, 6, 6, 8


def init_from_numpy(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.2, size=tuple(p.shape))))
    return model


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(N_CLASSES, NZ)
        self.l1 = nn.Sequential(nn.Linear(NZ, 4 * (SIZE // 2) ** 2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(4), nn.Upsample(scale_factor=2), nn.Conv2d(4, 4, 3, stride=1, padding=1),
            nn.BatchNorm2d(4, 0.8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4, 1, 3, stride=1, padding=1), nn.Tanh())

    def forward(self, noise, labels):
        gen_input = torch.mul(self.label_emb(labels), noise)
        out = self.l1(gen_input)
        out = out.view(out.shape[0], 4, SIZE // 2, SIZE // 2)
        return self.conv_blocks(out)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()

        def discriminator_block(in_filters, out_filters, bn=True):
            block = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        self.conv_blocks = nn.Sequential(*discriminator_block(1, 4, bn=False),
                                         *discriminator_block(4, 8))
        ds_size = SIZE // 2 ** 2
        self.adv_layer = nn.Sequential(nn.Linear(8 * ds_size ** 2, 1), nn.Sigmoid())
        self.aux_layer = nn.Linear(8 * ds_size ** 2, N_CLASSES)

    def forward(self, img):
        out = self.conv_blocks(img)
        out = out.view(out.shape[0], -1)
        return self.adv_layer(out), self.aux_layer(out)


def run(steps):
    generator = init_from_numpy(Generator().double(), 15)
    discriminator = init_from_numpy(Discriminator().double(), 16)
    adversarial_loss = torch.nn.BCELoss()
    auxiliary_loss = torch.nn.CrossEntropyLoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    rng = np.random.default_rng(7)
    losses = []
    for _ in range(steps):
        real_imgs = torch.from_numpy(rng.uniform(-1, 1, (BATCH, 1, SIZE, SIZE)))
        labels = torch.from_numpy(rng.integers(0, N_CLASSES, BATCH))
        valid = torch.ones(BATCH, 1, dtype=torch.float64)
        fake = torch.zeros(BATCH, 1, dtype=torch.float64)
        optimizer_G.zero_grad()
        z = torch.from_numpy(rng.normal(0, 1, (BATCH, NZ)))
        gen_labels = torch.from_numpy(rng.integers(0, N_CLASSES, BATCH))
        gen_imgs = generator(z, gen_labels)
        validity, pred_label = discriminator(gen_imgs)
        g_loss = 0.5 * (adversarial_loss(validity, valid) + auxiliary_loss(pred_label, gen_labels))
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        real_pred, real_aux = discriminator(real_imgs)
        d_real_loss = (adversarial_loss(real_pred, valid) + auxiliary_loss(real_aux, labels)) / 2
        fake_pred, fake_aux = discriminator(gen_imgs.detach())
        d_fake_loss = (adversarial_loss(fake_pred, fake)
                       + auxiliary_loss(fake_aux, gen_labels)) / 2
        d_loss = (d_real_loss + d_fake_loss) / 2
        pred = np.concatenate([real_aux.data.cpu().numpy(), fake_aux.data.cpu().numpy()], axis=0)
        gt = np.concatenate([labels.data.cpu().numpy(), gen_labels.data.cpu().numpy()], axis=0)
        d_acc = np.mean(np.argmax(pred, axis=1) == gt)
        d_loss.backward()
        optimizer_D.step()
        losses += [g_loss.item(), d_loss.item(), d_acc]
    params = {"G." + k: v.detach().numpy() for k, v in generator.named_parameters()}
    params.update({"D." + k: v.detach().numpy() for k, v in discriminator.named_parameters()})
    return {"losses": losses, "params": params}
