"""``torch.backends.mps``: Apple's Metal backend, which JAX does not have."""


def is_available() -> bool:
    """False: JAX has no MPS backend (use ``device('cpu')``)."""
    return False


def is_built() -> bool:
    """False: rustorch is not built with MPS support."""
    return False
