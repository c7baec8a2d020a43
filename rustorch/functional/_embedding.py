"""Embedding lookup with PyTorch's gradient rules (``padding_idx``, ``scale_grad_by_freq``, ``max_norm``)."""
from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ._conv import check_floating


def _check_indices(op: str, input) -> None:
    if not jnp.issubdtype(input.dtype, jnp.integer):
        raise TypeError(
            f"{op}: expected integer indices (an int32/int64 array), got dtype {input.dtype}; "
            f"cast them with .astype(jnp.int32)"
        )


def normalize_padding_idx(op: str, padding_idx, num_embeddings: int):
    """``padding_idx`` in ``[0, num_embeddings)`` (negative values count from the end), or None."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{op}: padding_idx must be within num_embeddings ({num_embeddings}), got {padding_idx}")
    return int(padding_idx) % num_embeddings


def _row_norms(rows, norm_type: float):
    magnitude = jnp.abs(rows)
    if norm_type == float("inf"):
        return jnp.max(magnitude, axis=-1)
    if norm_type == 2:
        return jnp.sqrt(jnp.sum(rows * rows, axis=-1))
    if norm_type == 1:
        return jnp.sum(magnitude, axis=-1)
    return jnp.sum(magnitude ** norm_type, axis=-1) ** (1.0 / norm_type)


def _renorm_scale(rows, max_norm: float, norm_type: float):
    """PyTorch's ``embedding_renorm_``: rows whose norm exceeds ``max_norm`` are multiplied by
    ``max_norm / (norm + 1e-7)``; the others by 1."""
    norms = _row_norms(rows, norm_type)
    scale = jnp.asarray(max_norm, rows.dtype) / (norms + jnp.asarray(1e-7, rows.dtype))
    return jnp.where(norms > max_norm, scale, jnp.ones((), rows.dtype))[..., None]


def embedding_renorm(weight, input, max_norm: float, norm_type: float = 2.0):
    """The ``weight`` that ``torch.embedding_renorm_`` leaves behind: each row referenced by
    ``input`` whose ``norm_type``-norm exceeds ``max_norm`` is scaled to ``max_norm`` (divided by
    ``norm + 1e-7``); other rows are unchanged. Not differentiated (PyTorch renormalises in
    place under ``no_grad``)."""
    _check_indices("embedding_renorm", input)
    weight = lax.stop_gradient(weight)
    scale = _renorm_scale(weight, max_norm, norm_type)
    referenced = jnp.zeros((weight.shape[0],), bool).at[input.reshape(-1)].set(True, mode="drop")
    return jnp.where(referenced[:, None], weight * scale, weight)


def lookup_rows(weight, indices, max_norm, norm_type):
    """The rows of ``weight`` at ``indices`` (out-of-range indices read row 0 and are reported
    in ``valid``), rescaled to norm at most ``max_norm`` in the forward pass only, as PyTorch's
    in-place renorm, which autograd does not see. Returns ``(valid, index, rows)``."""
    valid = (indices >= 0) & (indices < weight.shape[0])
    index = jnp.where(valid, indices, jnp.zeros((), indices.dtype))
    rows = jnp.take(weight, index, axis=0)
    if max_norm is not None:
        scaled = rows * lax.stop_gradient(_renorm_scale(rows, max_norm, norm_type))
        rows = lax.stop_gradient(scaled) + (rows - lax.stop_gradient(rows))
    return valid, index, rows


def embedding(input, weight, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
    """``torch.nn.functional.embedding``: ``weight[input]``, rows of ``weight`` gathered by
    integer indices of any shape (output ``input.shape + (embedding_dim,)``).

    * ``padding_idx``: that row receives no gradient (its value is returned as is).
    * ``max_norm``: rows are returned as :func:`embedding_renorm` leaves them; the gradient
      reaches ``weight`` unscaled, as PyTorch's (which renormalises ``weight`` in place first;
      to keep the renormalised weight, use :func:`embedding_renorm`).
    * ``scale_grad_by_freq``: each row's gradient is divided by how often its index occurs in
      ``input``.

    An index outside ``[0, num_embeddings)`` gives a row of NaN (a compiled program cannot
    raise; the facade checks concrete indices and raises ``IndexError``).

    Raises:
        TypeError: non-integer indices or a non-floating weight.
        ValueError: ``weight`` not 2-D, or ``sparse=True`` (gradients are dense arrays).
    """
    _check_indices("embedding", input)
    check_floating("embedding", "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: expected a 2-D weight [num_embeddings, embedding_dim], got shape {weight.shape}")
    if sparse:
        raise ValueError("embedding: sparse=True is not supported (gradients are dense JAX arrays); use sparse=False")
    num_embeddings = weight.shape[0]
    padding_idx = normalize_padding_idx("embedding", padding_idx, num_embeddings)
    valid, index, rows = lookup_rows(weight, input, max_norm, norm_type)
    if scale_grad_by_freq:
        counts = jnp.zeros((num_embeddings,), weight.dtype).at[index.reshape(-1)].add(1)
        inverse = (1 / jnp.take(counts, index))[..., None]
        rows = lax.stop_gradient(rows) + (rows - lax.stop_gradient(rows)) * inverse
    if padding_idx is not None:
        rows = jnp.where((index == padding_idx)[..., None], lax.stop_gradient(rows), rows)
    return jnp.where(valid[..., None], rows, jnp.asarray(jnp.nan, weight.dtype))
