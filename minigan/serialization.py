def save(obj, f):  # placeholder replaced below
    raise NotImplementedError


def load(f, map_location=None, weights_only=None):
    raise NotImplementedError
