"""rustorch: PyTorch's API and numerics, compiled by JAX/XLA.

Two layers:

* :mod:`rustorch.functional`: pure JAX functions (conv, pooling, batch norm with explicit state,
  dropout with explicit keys, losses, initialisers, optimizers as ``init``/``update``) that
  ``jax.jit``, ``jax.grad`` and ``jax.vmap`` compose with.
* The PyTorch-style facade (this namespace, plus :mod:`rustorch.nn`, :mod:`rustorch.optim`):
  ``Variable``/``tensor``, modules with ``train()``/``eval()``, ``loss.backward()``,
  ``optimizer.step()``, ``state_dict()``, :func:`save`/:func:`load`. Operations are recorded and
  each training step runs as one cached, compiled XLA program.
"""
# First, before anything starts JAX's CPU threads: glibc fixes a thread's malloc arena at its
# first allocation (see _allocator).
from ._allocator import _keep_freed_memory_by_default, keep_freed_memory

_keep_freed_memory_by_default()

from . import _config as _platform  # noqa: E402

_platform.choose_cpu_convolution_library()  # before JAX's backend starts (XLA_FLAGS)

import numpy as _np  # noqa: E402

from .serialization import CheckpointError, load, save
from .utils.data import DataLoader, Dataset, TensorDataset, random_split

from ._compilation_cache import _enable_by_default, enable_compilation_cache
from . import datasets, functional, nn, optim, serialization, utils
from . import distributed
from .nn import functional as _nn_functional
from .stateful import (
    ELU,
    GELU,
    SGD,
    Adam,
    AdamW,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    BCEWithLogitsLoss,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    Generator,
    Hardtanh,
    Identity,
    L1Loss,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    Module,
    ModuleDict,
    ModuleList,
    MSELoss,
    NLLLoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    Tensor,
    Unflatten,
    Variable,
    clear_cache,
    compile_count,
    enable_grad,
    evaluation_count,
    RecompileError,
    explain_recompiles,
    forbid_recompiles,
    functional_model,
    load_functional,
    initial_seed,
    is_grad_enabled,
    manual_seed,
    no_grad,
    set_grad_enabled,
    tensor,
)
from .stateful._tensor_functions import (
    arange,
    argmax,
    cat,
    exp,
    flatten,
    from_numpy,
    full,
    log,
    matmul,
    max,
    mean,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    relu,
    sigmoid,
    softmax,
    log_softmax,
    stack,
    sum,
    tanh,
    where,
    zeros,
    zeros_like,
)
# The replay engine's diagnostics and cache.
from .stateful import RecompileWarning, program_cache_size

# --- optimizers beyond Adam/AdamW/SGD ---
from .stateful import Adadelta, Adagrad, Adamax, NAdam, RAdam, RMSprop
# --- L-BFGS ---
from .stateful import LBFGS

float32 = _np.dtype(_np.float32)
float = float32
float64 = _np.dtype(_np.float64)
double = float64
float16 = _np.dtype(_np.float16)
half = float16
int8 = _np.dtype(_np.int8)
int16 = _np.dtype(_np.int16)
int32 = _np.dtype(_np.int32)
int = int32
int64 = _np.dtype(_np.int64)
long = int64
uint8 = _np.dtype(_np.uint8)
bool = _np.dtype(_np.bool_)

# --- torch.* tensor functions, devices, backends (surface block) ---
from .stateful._tensor_functions import *  # noqa: E402,F401,F403  (names listed in its __all__)
from . import accelerator, backends, cuda  # noqa: E402
from ._device import device  # noqa: E402
from .stateful import (  # noqa: E402
    BCELoss,
    CosineEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyLinear,
    MarginRankingLoss,
    SmoothL1Loss,
    TripletMarginLoss,
)

bfloat16 = _np.dtype(__import__("jax.numpy", fromlist=["bfloat16"]).bfloat16)
complex64 = cfloat = _np.dtype(_np.complex64)
complex128 = cdouble = _np.dtype(_np.complex128)
short = int16
dtype = _np.dtype
# --- end surface block ---

from . import multiprocessing, onnx  # noqa: E402
from .nn import modules as _nn_modules  # noqa: E402,F401  (PyTorch's layer paths: nn.modules.rnn.LSTM)

__version__ = "0.1.0"

_enable_by_default()

# --- sequence models: embedding, normalisation, recurrent layers, attention, Transformers ---
from .stateful import (  # noqa: E402
    GRU,
    LSTM,
    RNN,
    Embedding,
    GroupNorm,
    GRUCell,
    LayerNorm,
    LSTMCell,
    MultiheadAttention,
    RMSNorm,
    RNNCell,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

# --- advanced CNN layers ---
from .stateful import (
    AdaptiveAvgPool1d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    Conv1d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    Hardsigmoid,
    Hardswish,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LocalResponseNorm,
    MaxPool1d,
    Mish,
    PReLU,
    PixelShuffle,
    PixelUnshuffle,
    ReLU6,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)

# --- N-d pooling layers: 3-d pools, power-average pooling, max unpooling ---
from .stateful import (  # noqa: E402
    AdaptiveAvgPool3d,
    AdaptiveMaxPool3d,
    AvgPool3d,
    LPPool1d,
    LPPool2d,
    LPPool3d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)
# --- more activations, alpha dropout, patch layers, 3-D batch norm, lazy layers ---
from .stateful import (  # noqa: E402
    CELU,
    GLU,
    SELU,
    AlphaDropout,
    BatchNorm3d,
    ChannelShuffle,
    FeatureAlphaDropout,
    Fold,
    Hardshrink,
    LazyBatchNorm3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
    LogSigmoid,
    RReLU,
    Softmax2d,
    Softmin,
    Softshrink,
    Softsign,
    Tanhshrink,
    Threshold,
    Unfold,
)
from .stateful._nn_functional_act import (  # noqa: E402  (torch.relu_, torch.selu, ...)
    celu,
    celu_,
    channel_shuffle,
    hardshrink,
    relu_,
    rrelu,
    rrelu_,
    selu,
    selu_,
    threshold,
    threshold_,
)

# --- mixed precision and precision switches (torch.autocast, torch.amp, set_float32_matmul_precision) ---
from . import _precision  # noqa: E402
from . import amp, cpu  # noqa: E402
from .amp import autocast, get_autocast_dtype, is_autocast_available, is_autocast_enabled  # noqa: E402
from .amp import set_autocast_dtype, set_autocast_enabled  # noqa: E402
from ._precision import get_float32_matmul_precision, set_float32_matmul_precision  # noqa: E402

cuda.amp = amp.cuda_amp
_precision._apply_default()

# --- margin / likelihood / CTC losses, bilinear, similarity, embedding bags (more block) ---
from .stateful import (  # noqa: E402
    Bilinear,
    CosineSimilarity,
    CTCLoss,
    EmbeddingBag,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    PairwiseDistance,
    PoissonNLLLoss,
    SoftMarginLoss,
    TripletMarginWithDistanceLoss,
)
