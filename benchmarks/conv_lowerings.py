"""Each piece of a dense 2-D convolution's training step (forward, input gradient, weight
gradient) by every CPU lowering available, against PyTorch eager's forward + backward: the
measurements behind the per-shape plan (``CONV_PLAN_*`` in ``rustorch/_config.py``).

    python benchmarks/conv_lowerings.py                       # all cases, 5 rounds
    python benchmarks/conv_lowerings.py --cases r18_l1,r18_s4 --rounds 7

Lowerings (NHWC activations, HWIO weights unless NCHW is named):

* forward: ``gemm`` (im2col GEMMs, batch chunks), ``xla`` (``lax.conv_general_dilated`` NHWC),
  ``xla_nchw`` (the same on NCHW arrays);
* input gradient: ``xla`` (XLA's transposed convolution, autodiff of the NHWC convolution),
  ``col2im`` (``dy @ w^T`` as one GEMM, then the ``kh * kw`` column blocks added back into the
  padded input), ``xla_nchw``;
* weight gradient: ``gemm`` (``im2col(x)^T @ dy``, batch chunks), ``xla``, ``xla_nchw``;
* ``total``: the library's ``conv2d(..., layout="NHWC")`` (value and both gradients) with its
  per-shape plan (``library``) and with the earlier fixed choice (``before``: GEMM forward, XLA
  input gradient, GEMM weight gradient), XLA's autodiff NHWC and NCHW, and PyTorch eager's
  forward + backward (``torch``);
* ``plans``: the library's convolution with every forced combination of the pieces' lowerings,
  named by initials (forward, input gradient, weight gradient: ``gcg`` is GEMM, col2im, GEMM;
  ``xxx`` all XLA), next to the per-shape plan (``planned``).

Every number is the median over rounds that alternate the contenders in one process, printed
with the load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import rustorch  # noqa: F401  (first: its malloc settings)
import jax
import jax.numpy as jnp
from jax import lax
import torch

import rustorch.functional as F
from rustorch import _config
from rustorch.functional import _conv_lowering as L

# name: (N, C_in, H, C_out, kernel, stride, padding)
CASES = {
    "r18_stem": (16, 3, 64, 64, 7, 2, 3),
    "r18_l1": (16, 64, 16, 64, 3, 1, 1),
    "r18_l2down": (16, 64, 16, 128, 3, 2, 1),
    "r18_l2": (16, 128, 8, 128, 3, 1, 1),
    "r18_l3down": (16, 128, 8, 256, 3, 2, 1),
    "r18_l3": (16, 256, 4, 256, 3, 1, 1),
    "r18_l4down": (16, 256, 4, 512, 3, 2, 1),
    "r18_l4": (16, 512, 2, 512, 3, 1, 1),
    "r18_1x1down": (16, 256, 4, 512, 1, 2, 0),
    "r20_l1": (128, 16, 32, 16, 3, 1, 1),
    "r20_l2": (128, 32, 16, 32, 3, 1, 1),
    "r20_l3": (128, 64, 8, 64, 3, 1, 1),
    "r20_l3down": (128, 32, 16, 64, 3, 2, 1),
    "mnist_conv1": (256, 1, 28, 32, 3, 1, 1),
    "mnist_conv2": (256, 32, 14, 64, 3, 1, 1),
    "mnist_conv2_b64": (64, 32, 14, 64, 3, 1, 1),
}

_NCHW = ("NCHW", "OIHW", "NCHW")


def _time_alternating(fns, rounds, steps):
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            started = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append((time.perf_counter() - started) / steps * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def _pieces(n, c, h, o, k, s, p):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((n, h, h, c), dtype=np.float32))
    w = jnp.asarray(rng.standard_normal((k, k, c, o), dtype=np.float32) * 0.1)
    stride, pads, dil = (s, s), ((p, p), (p, p)), (1, 1)
    oh = (h + 2 * p - k) // s + 1
    dy = jnp.asarray(rng.standard_normal((n, oh, oh, o), dtype=np.float32))
    x_nchw, dy_nchw = jnp.transpose(x, (0, 3, 1, 2)), jnp.transpose(dy, (0, 3, 1, 2))
    w_oihw = jnp.transpose(w, (3, 2, 0, 1))

    def xla_nchw(a, b):
        return lax.conv_general_dilated(a, b, stride, pads, rhs_dilation=dil, dimension_numbers=_NCHW)

    jit = jax.jit
    fwd = {
        "gemm": jit(lambda a, b: L._forward(a, b, stride, pads, dil)),
        "xla": jit(lambda a, b: L._conv_nhwc(a, b, stride, pads, dil)),
        "xla_nchw": jit(xla_nchw),
    }
    fwd_args = {"gemm": (x, w), "xla": (x, w), "xla_nchw": (x_nchw, w_oihw)}
    dx = {
        "xla": jit(lambda b, g: jax.vjp(lambda a: L._conv_nhwc(a, b, stride, pads, dil), x)[1](g)[0]),
        "xla_nchw": jit(lambda b, g: jax.vjp(lambda a: xla_nchw(a, b), x_nchw)[1](g)[0]),
    }
    if hasattr(L, "_input_grad_col2im"):
        dx["col2im"] = jit(lambda b, g: L._input_grad_col2im(b, g, x.shape, stride, pads, dil))
    dx_args = {"xla": (w, dy), "xla_nchw": (w_oihw, dy_nchw), "col2im": (w, dy)}
    dw = {
        "gemm": jit(lambda a, g: L._weight_grad(a, g, (k, k), stride, pads, dil)),
        "xla": jit(lambda a, g: jax.vjp(lambda b: L._conv_nhwc(a, b, stride, pads, dil), w)[1](g)[0]),
        "xla_nchw": jit(lambda a, g: jax.vjp(lambda b: xla_nchw(a, b), w_oihw)[1](g)[0]),
    }
    dw_args = {"gemm": (x, dy), "xla": (x, dy), "xla_nchw": (x_nchw, dy_nchw)}

    def loss_lib(a, b):
        return jnp.sum(F.conv2d(a, b, stride=s, padding=p, layout="NHWC") * dy)

    def loss_xla(a, b):
        return jnp.sum(L._conv_nhwc(a, b, stride, pads, dil) * dy)

    def loss_nchw(a, b):
        return jnp.sum(xla_nchw(a, b) * dy_nchw)

    total = {
        "library": (jit(jax.value_and_grad(loss_lib, (0, 1))), (x, w_oihw)),
        "xla": (jit(jax.value_and_grad(loss_xla, (0, 1))), (x, w)),
        "xla_nchw": (jit(jax.value_and_grad(loss_nchw, (0, 1))), (x_nchw, w_oihw)),
    }
    tx = torch.from_numpy(np.array(x_nchw)).requires_grad_()
    tw = torch.from_numpy(np.array(w_oihw)).requires_grad_()
    tdy = torch.from_numpy(np.array(dy_nchw))

    def torch_step():
        tx.grad = tw.grad = None
        (torch.nn.functional.conv2d(tx, tw, stride=s, padding=p) * tdy).sum().backward()

    def bind(table, args):
        return {name: (lambda f=f, a=args[name]: jax.block_until_ready(f(*a))) for name, f in table.items()}

    # The lowering before the per-shape plan (GEMM forward, XLA input gradient, GEMM weight
    # gradient), traced now while forced; the jitted function keeps that trace.
    before = jit(jax.value_and_grad(loss_lib, (0, 1)))
    _lowering_force = dict(_config.CONV_LOWERING_FORCE)
    _config.CONV_LOWERING_FORCE.clear()
    _config.CONV_LOWERING_FORCE.update(forward="gemm", input_grad="xla", weight_grad="gemm")
    jax.block_until_ready(before(x, w_oihw))
    _config.CONV_LOWERING_FORCE.clear()
    _config.CONV_LOWERING_FORCE.update(_lowering_force)
    total["before"] = (before, (x, w_oihw))
    totals = {name: (lambda f=f, a=a: jax.block_until_ready(f(*a))) for name, (f, a) in total.items()}
    totals["torch"] = torch_step
    # Every forced combination of the three pieces' lowerings inside the library's convolution
    # (value and both gradients), each traced while forced; "planned" is the per-shape plan.
    plans = {"planned": totals["library"]}
    for forward in ("gemm", "xla"):
        for input_grad in ("col2im", "xla"):
            for weight_grad in ("gemm", "xla"):
                forced = jit(jax.value_and_grad(loss_lib, (0, 1)))
                _config.CONV_LOWERING_FORCE.update(forward=forward, input_grad=input_grad, weight_grad=weight_grad)
                jax.block_until_ready(forced(x, w_oihw))
                _config.CONV_LOWERING_FORCE.clear()
                _config.CONV_LOWERING_FORCE.update(_lowering_force)
                plans[f"{forward[0]}{input_grad[0]}{weight_grad[0]}"] = (
                    lambda f=forced: jax.block_until_ready(f(x, w_oihw)))
    return {"fwd": bind(fwd, fwd_args), "dx": bind(dx, dx_args), "dw": bind(dw, dw_args), "total": totals,
            "plans": plans}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--parts", default="fwd,dx,dw,total,plans")
    args = parser.parse_args(argv)
    for case in args.cases.split(","):
        pieces = _pieces(*CASES[case])
        for part in args.parts.split(","):
            medians = _time_alternating(pieces[part], args.rounds, args.steps)
            cells = "  ".join(f"{name} {ms:7.2f}" for name, ms in medians.items())
            print(f"{case:12s} {part:5s} {cells}   (load {os.getloadavg()[0]:.2f})", flush=True)


if __name__ == "__main__":
    main()
