"""``torch.nn.utils.rnn``: packed and padded variable-length sequences.

A :class:`PackedSequence` stores the steps of a batch of sequences sorted by decreasing length,
time-major: ``data`` holds ``batch_sizes[0]`` rows for step 0, then ``batch_sizes[1]`` for step 1,
and so on. Lengths are host values (as PyTorch's CPU ``lengths``), so packing and unpacking are
recorded gathers and scatters with index arrays computed on the host; recurrent layers run
packed input as a masked scan over the padded batch.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import jax.numpy as jnp
import numpy as np

from ...stateful._variable import Variable, apply


class PackedSequence(NamedTuple):
    """A packed batch of variable-length sequences, as ``torch.nn.utils.rnn.PackedSequence``:
    ``data`` ``[sum(lengths), *]``, ``batch_sizes`` (int, one per step), ``sorted_indices``
    (original batch index of each sorted column, or None when the input was sorted) and
    ``unsorted_indices`` (its inverse)."""

    data: Variable
    batch_sizes: Variable
    sorted_indices: Optional[Variable] = None
    unsorted_indices: Optional[Variable] = None

    @property
    def is_cuda(self) -> bool:
        return False

    def to(self, *args, **kwargs) -> "PackedSequence":
        return self._replace(data=self.data.to(*args, **kwargs))

    def cpu(self) -> "PackedSequence":
        return self

    def cuda(self, *args, **kwargs) -> "PackedSequence":
        return self

    def float(self) -> "PackedSequence":
        return self._replace(data=self.data.float())

    def double(self) -> "PackedSequence":
        return self._replace(data=self.data.double())

    def is_pinned(self) -> bool:
        return False


def _host_ints(value, name) -> np.ndarray:
    if isinstance(value, Variable):
        value = value.numpy()
    array = np.asarray(value)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise ValueError(f"{name} must be a 1-D sequence of integers, got {array!r}")
    return array.astype(np.int64)


def _gather(x, time_index, batch_index):
    return x[time_index, batch_index]


def _scatter(data, time_index, batch_index, *, shape, padding_value):
    out = jnp.full(shape, padding_value, data.dtype)
    return out.at[time_index, batch_index].set(data)


def _pack_indices(lengths_sorted, sorted_indices):
    """Time and original-batch index of every packed row, in packed order."""
    steps = int(lengths_sorted[0])
    batch_sizes = np.array([(lengths_sorted > t).sum() for t in range(steps)], np.int64)
    time_index = np.concatenate([np.full(size, t, np.int64) for t, size in enumerate(batch_sizes)])
    batch_index = np.concatenate([sorted_indices[:size] for size in batch_sizes])
    return batch_sizes, time_index, batch_index


def _index(array):
    return np.asarray(array, np.int32)


def _as_variable(array):
    return Variable(np.asarray(array, np.int64))


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``[T, B, *]`` (``[B, T, *]`` with ``batch_first``) of sequences of
    the given ``lengths``, as ``torch.nn.utils.rnn.pack_padded_sequence``.

    Raises:
        RuntimeError: ``enforce_sorted`` and ``lengths`` not in decreasing order (pass
            ``enforce_sorted=False``), a length of 0, or a length beyond the input.
    """
    lengths = _host_ints(lengths, "lengths")
    batch_dim = 0 if batch_first else 1
    if lengths.shape[0] != input.shape[batch_dim]:
        raise RuntimeError(f"pack_padded_sequence: expected {input.shape[batch_dim]} lengths (the batch size), "
                           f"got {lengths.shape[0]}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        order = np.arange(len(lengths))
        sorted_indices = unsorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = _as_variable(order)
        unsorted_indices = _as_variable(np.argsort(order, kind="stable"))
    lengths_sorted = lengths[order]
    if lengths_sorted.size and lengths_sorted[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if lengths_sorted[0] > input.shape[1 - batch_dim]:
        raise RuntimeError(f"pack_padded_sequence: a length of {lengths_sorted[0]} exceeds the input's "
                           f"{input.shape[1 - batch_dim]} steps")
    batch_sizes, time_index, batch_index = _pack_indices(lengths_sorted, order)
    if batch_first:
        data = apply(_gather, input, _index(batch_index), _index(time_index))
    else:
        data = apply(_gather, input, _index(time_index), _index(batch_index))
    return PackedSequence(data, _as_variable(batch_sizes), sorted_indices, unsorted_indices)


def _packed_layout(sequence: PackedSequence):
    """``(lengths in original order, time index, original batch index)`` of a PackedSequence."""
    batch_sizes = _host_ints(sequence.batch_sizes, "batch_sizes")
    batch = int(batch_sizes[0])
    order = np.arange(batch) if sequence.sorted_indices is None else _host_ints(sequence.sorted_indices, "sorted_indices")
    lengths_sorted = np.array([(batch_sizes > b).sum() for b in range(batch)], np.int64)
    _, time_index, batch_index = _pack_indices(lengths_sorted, order)
    lengths = np.empty(batch, np.int64)
    lengths[order] = lengths_sorted
    return lengths, time_index, batch_index


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: Optional[int] = None):
    """Unpack a :class:`PackedSequence` into ``(padded, lengths)``, in the original batch order,
    as ``torch.nn.utils.rnn.pad_packed_sequence``; ``total_length`` pads to that many steps.

    Raises:
        ValueError: ``total_length`` shorter than the longest sequence.
    """
    lengths, time_index, batch_index = _packed_layout(sequence)
    steps = int(lengths.max())
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {steps}")
        steps = total_length
    data = sequence.data
    tail = tuple(data.shape[1:])
    if batch_first:
        shape = (len(lengths), steps) + tail
        padded = apply(_scatter, data, _index(batch_index), _index(time_index), shape=shape,
                       padding_value=float(padding_value))
    else:
        shape = (steps, len(lengths)) + tail
        padded = apply(_scatter, data, _index(time_index), _index(batch_index), shape=shape,
                       padding_value=float(padding_value))
    return padded, _as_variable(lengths)


def _repack_like(padded, like: PackedSequence) -> PackedSequence:
    """Pack the time-major ``padded`` output of a recurrent layer with the layout of ``like``."""
    _, time_index, batch_index = _packed_layout(like)
    data = apply(_gather, padded, _index(time_index), _index(batch_index))
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


def _pad_sequence_op(*sequences, batch_first, padding_value, left):
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        widths = [(longest - s.shape[0], 0) if left else (0, longest - s.shape[0])] + [(0, 0)] * (s.ndim - 1)
        padded.append(jnp.pad(s, widths, constant_values=jnp.asarray(padding_value, s.dtype)))
    return jnp.stack(padded, axis=0 if batch_first else 1)


def pad_sequence(sequences: Sequence[Variable], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Variable:
    """Stack sequences ``[L_i, *]`` into ``[max L, B, *]`` (``[B, max L, *]`` with ``batch_first``)
    padded with ``padding_value`` on the ``padding_side`` ('right' or 'left'), as
    ``torch.nn.utils.rnn.pad_sequence``."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    sequences = [s if isinstance(s, Variable) else Variable(s) for s in sequences]
    return apply(_pad_sequence_op, *sequences, batch_first=batch_first, padding_value=float(padding_value),
                 left=padding_side == "left")


def pack_sequence(sequences: Sequence[Variable], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of ``[L_i, *]`` sequences, as ``torch.nn.utils.rnn.pack_sequence``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Variable, lengths, batch_first: bool = False) -> list:
    """The list of unpadded sequences, as ``torch.nn.utils.rnn.unpad_sequence``."""
    lengths = _host_ints(lengths, "lengths")
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(lengths)]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of sequences in a PackedSequence, as ``torch.nn.utils.rnn.unpack_sequence``."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
           "unpad_sequence", "unpack_sequence"]
