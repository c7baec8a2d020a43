"""rustorch.datasets: ready-made datasets (``torchvision.datasets``), as numpy on the host.

``MNIST`` reads the IDX files (gzip or raw) from ``root`` or ``$RUSTORCH_DATA``, verifies their
sha256 and can download them from public mirrors. ``read_idx``/``parse_idx`` read any IDX file.
"""
from ._download import MNIST_MIRRORS, DownloadError, download_verified, mnist_mirrors
from ._mnist import MNIST, parse_idx, read_idx

__all__ = [
    "MNIST",
    "MNIST_MIRRORS",
    "DownloadError",
    "download_verified",
    "mnist_mirrors",
    "parse_idx",
    "read_idx",
]

# --- WikiText-2 (word level) ---
from ._wikitext import Dictionary, WikiText2, batchify, get_batch, wikitext_root  # noqa: E402

__all__ += ["Dictionary", "WikiText2", "batchify", "get_batch", "wikitext_root"]
