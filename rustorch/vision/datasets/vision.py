"""``VisionDataset``: the base of the vision datasets (``torchvision.datasets.VisionDataset``)."""
from __future__ import annotations

import os
from typing import Callable

from rustorch.utils.data import Dataset
from rustorch.utils.data._convert import call_host_safe


class VisionDataset(Dataset):
    """A dataset under ``root`` whose items pass through ``transform`` (the image) and
    ``target_transform`` (the label), or ``transforms`` (both at once).

    Inside a ``DataLoader`` fetch, rustorch's own transforms run on host arrays (one transfer per
    batch instead of per sample); other callables receive what they would outside a loader.
    Raises ``ValueError`` when ``transforms`` is given with either of the others, ``TypeError``
    for a non-callable transform.
    """

    def __init__(self, root, transforms: Callable | None = None, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        if transforms is not None and (transform is not None or target_transform is not None):
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        for name, value in (("transforms", transforms), ("transform", transform),
                            ("target_transform", target_transform)):
            if value is not None and not callable(value):
                raise TypeError(f"{type(self).__name__}: {name} must be callable or None, got "
                                f"{type(value).__name__}")
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = transforms

    def _apply(self, img, target):
        if self.transforms is not None:
            return self.transforms(img, target)
        if self.transform is not None:
            img = call_host_safe(self.transform, img)
        if self.target_transform is not None:
            target = call_host_safe(self.target_transform, target)
        return img, target

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"Root location: {self.root}")
        lines += [line for line in self.extra_repr().splitlines() if line]
        if self.transform is not None:
            lines.append(f"Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"Target transform: {self.target_transform!r}")
        return f"Dataset {type(self).__name__}\n" + "\n".join("    " + line for line in lines)
