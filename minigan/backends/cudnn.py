"""``minigan.backends.cudnn``: PyTorch's cuDNN switches, accepted so that scripts setting them
run. minigan does not use cuDNN; its kernels are deterministic for a given backend and thread
count, so the flags change nothing."""

benchmark = False
deterministic = False
enabled = True
allow_tf32 = False


def is_available() -> bool:
    return False
