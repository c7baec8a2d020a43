"""WikiText-2 (word level) as token ids, as ``word_language_model/data.py`` of pytorch/examples.

Each line of a split becomes its words followed by ``<eos>``; a :class:`Dictionary` maps words
to ids in order of first appearance. ``batchify`` lays the token stream out as ``[steps, batch]``
columns and ``get_batch`` cuts a ``bptt``-long input/target window from it, as the PyTorch example.
"""
from __future__ import annotations

import hashlib
import os
from typing import Optional

import numpy as np

from .. import _config

ENV_VAR = _config.WIKITEXT_ENV
SPLITS = ("train", "valid", "test")
SHA256 = {
    "valid": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
    "test": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
}


class Dictionary:
    """Word <-> id tables: ``word2idx`` (dict) and ``idx2word`` (list)."""

    def __init__(self):
        self.word2idx: dict = {}
        self.idx2word: list = []

    def add_word(self, word: str) -> int:
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self) -> int:
        return len(self.idx2word)


def wikitext_root(root: Optional[str] = None) -> str:
    """``root``, else ``$RUSTORCH_WIKITEXT``, else ``../shared/data/wikitext-2``."""
    return root or os.environ.get(ENV_VAR) or os.path.join("..", "shared", "data", "wikitext-2")


class WikiText2:
    """The splits of WikiText-2 found in ``root`` (any of ``train.txt``, ``valid.txt``,
    ``test.txt``), tokenised into one shared :class:`Dictionary`.

    Attributes: ``dictionary``; ``train``, ``valid``, ``test`` (int64 numpy token ids, or None
    for a missing file).

    Args:
        root: the folder (default: see :func:`wikitext_root`).
        verify: check the sha256 of ``valid.txt``/``test.txt`` against the published copies.

    Raises:
        FileNotFoundError: no split in ``root`` (says where it looked and how to point elsewhere).
        ValueError: a checksum mismatch with ``verify``.
    """

    def __init__(self, root: Optional[str] = None, verify: bool = True):
        self.root = wikitext_root(root)
        self.dictionary = Dictionary()
        found = False
        for split in SPLITS:
            path = os.path.join(self.root, f"{split}.txt")
            if os.path.exists(path):
                found = True
                setattr(self, split, self._tokenize(path, split if verify else None))
            else:
                setattr(self, split, None)
        if not found:
            raise FileNotFoundError(
                f"WikiText2: no train.txt, valid.txt or test.txt in {os.path.abspath(self.root)}; pass root=... "
                f"or set ${ENV_VAR} to the wikitext-2 folder"
            )

    def _tokenize(self, path: str, split: Optional[str]) -> np.ndarray:
        with open(path, "rb") as f:
            raw = f.read()
        if split in SHA256 and hashlib.sha256(raw).hexdigest() != SHA256[split]:
            raise ValueError(f"WikiText2: {path} does not match the sha256 of the published {split} split")
        ids = []
        for line in raw.decode("utf8").splitlines():
            for word in line.split() + ["<eos>"]:
                ids.append(self.dictionary.add_word(word))
        return np.asarray(ids, np.int64)


def batchify(data: np.ndarray, batch_size: int) -> np.ndarray:
    """``[steps, batch_size]``: the stream cut into ``batch_size`` contiguous columns, the tail
    that does not fill a row dropped (the PyTorch example's ``batchify``)."""
    steps = len(data) // batch_size
    return np.ascontiguousarray(data[: steps * batch_size].reshape(batch_size, steps).T)


def get_batch(source: np.ndarray, i: int, bptt: int):
    """``(input [L, B], target [L * B])`` starting at row ``i``, ``L = min(bptt, len - 1 - i)``."""
    length = min(bptt, len(source) - 1 - i)
    return source[i:i + length], source[i + 1:i + 1 + length].reshape(-1)
