"""``torch.backends.cpu``."""
import platform


def get_cpu_capability() -> str:
    """The host CPU's architecture name (XLA compiles for the host's own instruction set)."""
    return platform.machine()
