"""rustorch.stateful: the PyTorch-style facade over :mod:`rustorch.functional`.

Variables record operations; one compiled XLA program computes a whole step when a value is
needed (see :mod:`rustorch.stateful._graph`).
"""
from . import _nn_functional as nn_functional
from ._graph import (
    RecompileError,
    forbid_recompiles,
    clear_cache,
    compile_count,
    enable_grad,
    evaluation_count,
    explain_recompiles,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from ._layers import (
    ELU,
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Hardtanh,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    Unflatten,
)
from ._losses import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from ._module import IncompatibleKeys, Module, ModuleDict, ModuleList, Parameter, Sequential
from ._random import Generator, initial_seed, manual_seed
from ._variable import Tensor, Variable, tensor
from ._bridge import functional_model, load_functional
# The replay engine's diagnostics and cache.
from ._graph import RecompileWarning, program_cache_size
from ._optim import SGD, Adam, AdamW, Optimizer

# --- sequence models: embedding, normalisation, recurrent layers, attention, Transformers ---
from ._sequence import (
    GRU,
    LSTM,
    RNN,
    Embedding,
    GroupNorm,
    GRUCell,
    LayerNorm,
    LSTMCell,
    RMSNorm,
    RNNBase,
    RNNCell,
    RNNCellBase,
)
from ._transformer import (
    MultiheadAttention,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from ._optim import Adadelta, Adagrad, Adamax, NAdam, RAdam, RMSprop
# --- more losses, hooks, tensor API (surface block) ---
from ._losses import (
    BCELoss,
    CosineEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    MarginRankingLoss,
    SmoothL1Loss,
    TripletMarginLoss,
)
from ._module import RemovableHandle
from ._lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyConv1d, LazyConv2d, LazyConv3d, LazyLinear
from ._tensor_methods import Size

# --- advanced CNN layers ---
from ._conv_layers import (
    Conv1d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from ._pool_layers import (
    AdaptiveAvgPool1d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    MaxPool1d,
)
from ._image_layers import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    Hardsigmoid,
    Hardswish,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LocalResponseNorm,
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
# --- L-BFGS ---
from ._lbfgs import LBFGS

# --- N-d pooling layers: 3-d pools, power-average pooling, max unpooling ---
from ._pool_layers import (
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
# --- containers, losses, bilinear, embedding bag (more block) ---
from ._containers import ParameterDict, ParameterList
from ._module import Buffer
from ._more_layers import (
    Bilinear,
    CosineSimilarity,
    CTCLoss,
    EmbeddingBag,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    NLLLoss2d,
    PairwiseDistance,
    PoissonNLLLoss,
    SoftMarginLoss,
    TripletMarginWithDistanceLoss,
)
# --- more activations, alpha dropout, patch layers, 3-D batch norm, lazy layers ---
from ._activation_layers import (
    CELU,
    GLU,
    SELU,
    AlphaDropout,
    ChannelShuffle,
    FeatureAlphaDropout,
    Fold,
    Hardshrink,
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
from ._layers import BatchNorm3d
from ._lazy import (
    LazyBatchNorm3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
)
