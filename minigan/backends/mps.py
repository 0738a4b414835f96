"""``minigan.backends.mps``: PyTorch's Apple-GPU switch, answered so that scripts asking run
(``if torch.backends.mps.is_available(): ...``). minigan has no Metal backend."""


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
