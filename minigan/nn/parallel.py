"""``minigan.nn.parallel``: PyTorch's module path of DataParallel (one device here; minigan's
data parallelism across processes is ``minigan.distributed``)."""

from .container import DataParallel

__all__ = ["DataParallel"]
