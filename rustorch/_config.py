"""Platform choices: every switch and default that decides how rustorch runs, in one place.

rustorch computes the same values on every backend; what differs is *how*: a few choices make
XLA's CPU backend fast (a convolution lowering, a channels-last layout pass, glibc malloc
settings) and a few defaults follow PyTorch (float32 matmuls) or save time across processes (the
compilation cache). The modules that act on these choices read them from here.

Environment variables (an on/off switch is off for ``0``, on for any other non-empty value, and
takes its default when unset or empty):

==========================================  ===========  ==========================================
Variable                                    Default      Effect (read when)
==========================================  ===========  ==========================================
``RUSTORCH_CHANNELS_LAST``                  on           the facade's channels-last layout pass on
                                                         CPU (when a program is built; GPUs never
                                                         use it)
``RUSTORCH_MALLOC_TUNING``                  on           keep freed memory in one glibc arena
                                                         (at import; also off when
                                                         ``MALLOC_MMAP_THRESHOLD_``,
                                                         ``MALLOC_TRIM_THRESHOLD_``,
                                                         ``MALLOC_ARENA_MAX`` or ``GLIBC_TUNABLES``
                                                         is set)
``RUSTORCH_COMPILATION_CACHE``              on           JAX's persistent compilation cache (at
                                                         import; also off when
                                                         ``jax_compilation_cache_dir`` is set)
``RUSTORCH_CACHE_DIR``                      see effect   the cache folder; else
                                                         ``$XDG_CACHE_HOME/rustorch/jax``, else
                                                         ``~/.cache/rustorch/jax``
``RUSTORCH_PROGRAM_CACHE_SIZE``             256          compiled facade programs kept (at import)
``RUSTORCH_EXPLAIN_RECOMPILES``             off          log why each facade cache miss happened
                                                         (at import)
``RUSTORCH_FUSED_STEP``                     on           ``optimizer.step()`` recorded into the next
                                                         program (one program per training step);
                                                         off: its own program at once (at import)
``RUSTORCH_DONATE``                         on           programs reuse the buffers of the
                                                         parameters and optimizer state a step
                                                         replaces (at import)
``RUSTORCH_DATA``                           unset        the MNIST folder of ``rustorch.datasets``
``RUSTORCH_MNIST_MIRRORS``                  unset        MNIST download mirrors (comma-separated)
``RUSTORCH_WIKITEXT``                       unset        the wikitext-2 folder
``JAX_DEFAULT_MATMUL_PRECISION``            unset        JAX's own; when set it wins over
                                                         :data:`DEFAULT_FLOAT32_MATMUL_PRECISION`
``RUSTORCH_EIGEN_CONVOLUTIONS``             on           CPU convolutions on XLA's own kernels, not
                                                         YNNPACK's (at import: appends
                                                         :data:`YNN_FUSION_FLAG` to ``XLA_FLAGS``
                                                         unless that flag is there already or
                                                         JAX's backend has started)
``XLA_FLAGS``                               unset        XLA's own; rustorch only ever appends the
                                                         one flag above
==========================================  ===========  ==========================================

In-process switches (module attributes, read when a function is traced, so a change applies to
programs traced afterwards):

==========================================  ===========  ==========================================
Attribute                                   Default      Effect
==========================================  ===========  ==========================================
:data:`CPU_CONV_LOWERING`                   True         dense and grouped 1-D/2-D convolutions on
                                                         CPU through ``functional/_conv_lowering``;
                                                         False: XLA's own convolution everywhere
:data:`CONV_LOWERING_FORCE`                 ``{}``       force one lowering per piece of a dense CPU
                                                         convolution, overriding the plan below
``CONV_PLAN_*``                             measured     the per-shape plan of that lowering
:data:`MALLOC_THRESHOLD_BYTES`              1 GiB        glibc's mmap and trim thresholds
:data:`COMPILATION_CACHE_MIN_SECONDS`       0.5          programs compiled faster are not cached
:data:`DEFAULT_FLOAT32_MATMUL_PRECISION`    'highest'    PyTorch's default; float32 dots on GPUs
==========================================  ===========  ==========================================

Every check of the backend goes through :func:`on_cpu`. Launcher variables (``MASTER_ADDR``,
``LOCAL_RANK``, ``JAX_PLATFORMS``, ...) are read by ``rustorch.distributed`` as ``torchrun``
defines them; they are not rustorch's switches.

This module imports nothing but ``os`` at import time: ``rustorch._allocator`` reads it before
JAX may start its threads.
"""
from __future__ import annotations

import os

# ------------------------------------------------------------------------ environment names
CHANNELS_LAST_ENV = "RUSTORCH_CHANNELS_LAST"
MALLOC_TUNING_ENV = "RUSTORCH_MALLOC_TUNING"
GLIBC_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES")
"""glibc's own malloc settings; when the user sets any of them, rustorch leaves malloc alone."""
COMPILATION_CACHE_ENV = "RUSTORCH_COMPILATION_CACHE"
CACHE_DIR_ENV = "RUSTORCH_CACHE_DIR"
PROGRAM_CACHE_SIZE_ENV = "RUSTORCH_PROGRAM_CACHE_SIZE"
EXPLAIN_RECOMPILES_ENV = "RUSTORCH_EXPLAIN_RECOMPILES"
FUSED_STEP_ENV = "RUSTORCH_FUSED_STEP"
DONATE_ENV = "RUSTORCH_DONATE"
EIGEN_CONVOLUTIONS_ENV = "RUSTORCH_EIGEN_CONVOLUTIONS"
DATA_ENV = "RUSTORCH_DATA"
MNIST_MIRRORS_ENV = "RUSTORCH_MNIST_MIRRORS"
WIKITEXT_ENV = "RUSTORCH_WIKITEXT"

_SWITCH_DEFAULTS = {
    CHANNELS_LAST_ENV: True,
    MALLOC_TUNING_ENV: True,
    COMPILATION_CACHE_ENV: True,
    EXPLAIN_RECOMPILES_ENV: False,
    FUSED_STEP_ENV: True,
    DONATE_ENV: True,
    EIGEN_CONVOLUTIONS_ENV: True,
}
DEFAULT_PROGRAM_CACHE_SIZE = 256

# ---------------------------------------------------------------------- in-process settings
CPU_CONV_LOWERING = True
"""Whether convolutions on CPU take rustorch's lowering (benchmarks turn it off to compare)."""

CONV_LOWERING_FORCE: dict = {}
"""Forces a piece's lowering of a dense CPU convolution: ``{"forward": "gemm" | "xla",
"input_grad": "col2im" | "xla", "weight_grad": "gemm" | "xla"}``; the parity tests and
benchmarks use it to reach every path. Mutate it in place or replace the attribute."""

# Which lowering computes each piece of a dense CPU convolution, by shape. Measured on this
# project's 2-core CPU with benchmarks/conv_lowerings.py (benchmarks/NOTES.md has the table):
#
# * forward: XLA's convolution, except on small output maps (at most CONV_PLAN_SMALL_MAP_FORWARD
#   output positions per image), where its cost grows much faster than the arithmetic
#   (ResNet-18's 512 -> 512 3x3 convolution on 2x2 maps, batch 16: 568 ms against 10 ms as one
#   GEMM);
# * input gradient: XLA's transposed convolution on large output maps; on small ones (at most
#   CONV_PLAN_SMALL_MAP_INPUT_GRAD output positions per image) the column gradient ``dy @ w^T``
#   as one GEMM spread back onto the input (the same 2x2 case: 571 ms against 6 ms;
#   256 -> 256 on 4x4 maps: 5.7 against 3.5 ms);
# * weight gradient: XLA's on large maps with many input channels (at least
#   CONV_PLAN_XLA_WEIGHT_GRAD_MAP output positions per image and CONV_PLAN_XLA_WEIGHT_GRAD_CHANNELS
#   input channels) or large kernels (at least CONV_PLAN_XLA_WEIGHT_GRAD_TAPS taps, such as a
#   7x7 stem), otherwise the batch-chunked im2col GEMMs (XLA's weight gradient is 2-3x slower
#   with few channels: MNIST's 32 -> 64 convolution at batch 256, 108 ms against 54 ms).
#
# These thresholds were measured with YNNPACK running XLA's convolutions (jaxlib's default). With
# XLA's own (Eigen) convolution kernels (:data:`EIGEN_CONVOLUTIONS`, rustorch's default) the
# weight gradient is always XLA's (1.5-4x faster than YNNPACK's: MNIST's 32 -> 64 at batch 256,
# 27 against 101 ms; ResNet-20's 16 -> 16 at batch 128, 23 against 38 ms) and the column-gradient
# input gradient pays only up to CONV_PLAN_EIGEN_SMALL_MAP_INPUT_GRAD output positions.
CONV_PLAN_SMALL_MAP_FORWARD = 9
CONV_PLAN_SMALL_MAP_INPUT_GRAD = 64
CONV_PLAN_EIGEN_SMALL_MAP_INPUT_GRAD = 16
CONV_PLAN_XLA_WEIGHT_GRAD_MAP = 64
CONV_PLAN_XLA_WEIGHT_GRAD_CHANNELS = 64
CONV_PLAN_XLA_WEIGHT_GRAD_TAPS = 25

YNN_FUSION_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
"""XLA's CPU flag naming what YNNPACK runs. jaxlib 0.10.2 gives it single dots, single
convolutions and reductions; rustorch sets :data:`YNN_FUSION_KINDS` (all but the convolutions)."""

YNN_FUSION_KINDS = "individual_dot,reduce"

EIGEN_CONVOLUTIONS = False
"""Whether this process's CPU convolutions run on XLA's own kernels (set at import by
:func:`choose_cpu_convolution_library`; the lowering plan above depends on it). Measured on the
2-core CPU of benchmarks/NOTES.md, whole training steps with them and the plan made for them:
MNIST CNN batch 64 1,135-1,142 -> 1,541-1,694 samples/s, batch 256 1,287-1,308 -> 1,625-1,672,
ResNet-20 batch 128 124-136 -> 136-156."""

MALLOC_THRESHOLD_BYTES = 1 << 30
"""glibc's mmap and trim thresholds when rustorch tunes malloc (see ``rustorch._allocator``)."""

COMPILATION_CACHE_MIN_SECONDS = 0.5
"""Programs that compiled faster than this are not written to the persistent cache."""

DEFAULT_FLOAT32_MATMUL_PRECISION = "highest"
"""PyTorch's default for ``torch.get_float32_matmul_precision`` (float32 dots and convolutions)."""


# -------------------------------------------------------------------------------- decisions
def switch_on(name: str) -> bool:
    """The on/off environment switch ``name`` (one of the table's): unset or empty gives its
    default, ``0`` turns it off, any other value on. Read at each call."""
    value = os.environ.get(name, "")
    if value == "":
        return _SWITCH_DEFAULTS[name]
    return value != "0"


def on_cpu() -> bool:
    """Whether JAX's default backend is the CPU (it starts the backend if it has not started)."""
    import jax

    return jax.default_backend() == "cpu"


def use_cpu_conv_lowering() -> bool:
    """Whether convolutions take rustorch's CPU lowering: on the CPU backend, unless
    :data:`CPU_CONV_LOWERING` is False."""
    return CPU_CONV_LOWERING and on_cpu()


def use_channels_last_pass() -> bool:
    """Whether facade programs built now keep image activations channels-last: on the CPU
    backend, unless ``RUSTORCH_CHANNELS_LAST=0``. GPUs keep NCHW, which their convolutions
    handle natively."""
    return switch_on(CHANNELS_LAST_ENV) and on_cpu()


def tune_malloc() -> bool:
    """Whether rustorch sets glibc's malloc at import: unless ``RUSTORCH_MALLOC_TUNING=0`` or
    the user already tunes it through glibc's own variables (which then win)."""
    return switch_on(MALLOC_TUNING_ENV) and not any(name in os.environ for name in GLIBC_MALLOC_ENV)


def use_compilation_cache() -> bool:
    """Whether rustorch turns on JAX's persistent compilation cache at import: unless
    ``RUSTORCH_COMPILATION_CACHE=0`` or the user already chose a cache folder for JAX."""
    if not switch_on(COMPILATION_CACHE_ENV):
        return False
    import jax

    return not jax.config.jax_compilation_cache_dir


def compilation_cache_dir() -> str:
    """``$RUSTORCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/rustorch/jax``, else
    ``~/.cache/rustorch/jax``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rustorch", "jax")


def program_cache_size() -> int:
    """``$RUSTORCH_PROGRAM_CACHE_SIZE``, else :data:`DEFAULT_PROGRAM_CACHE_SIZE`."""
    return int(os.environ.get(PROGRAM_CACHE_SIZE_ENV, str(DEFAULT_PROGRAM_CACHE_SIZE)))


def explain_recompiles() -> bool:
    """Whether the facade logs each recompile's reason from the start
    (``RUSTORCH_EXPLAIN_RECOMPILES``, off by default)."""
    return switch_on(EXPLAIN_RECOMPILES_ENV)


def fused_optimizer_step() -> bool:
    """Whether ``optimizer.step()`` records its update into the next program (the default)
    rather than running it at once (``RUSTORCH_FUSED_STEP=0``)."""
    return switch_on(FUSED_STEP_ENV)


def choose_cpu_convolution_library() -> bool:
    """Have XLA run CPU convolutions on its own kernels instead of YNNPACK's, by appending
    ``YNN_FUSION_FLAG=YNN_FUSION_KINDS`` to ``XLA_FLAGS`` (XLA reads it when the backend starts),
    unless ``RUSTORCH_EIGEN_CONVOLUTIONS=0``, the user's ``XLA_FLAGS`` already names the flag
    (then the user's choice stands and :data:`EIGEN_CONVOLUTIONS` says what it means), or JAX's
    backend has already started (import rustorch before running any JAX computation). Returns
    whether it appended the flag."""
    global EIGEN_CONVOLUTIONS
    flags = os.environ.get("XLA_FLAGS", "")
    if YNN_FUSION_FLAG in flags:
        value = flags.split(YNN_FUSION_FLAG, 1)[1].lstrip("=").split(" ", 1)[0]
        EIGEN_CONVOLUTIONS = "individual_convolution" not in value and "INDIVIDUAL_CONVOLUTION" not in value
        return False
    if not switch_on(EIGEN_CONVOLUTIONS_ENV):
        return False
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_FUSION_FLAG}={YNN_FUSION_KINDS}".strip()
    EIGEN_CONVOLUTIONS = True
    return True


def donate_replaced_buffers() -> bool:
    """Whether facade programs donate the parameters and optimizer state an optimizer step
    replaces, so that the new values reuse their memory (``RUSTORCH_DONATE=0`` turns it off)."""
    return switch_on(DONATE_ENV)
