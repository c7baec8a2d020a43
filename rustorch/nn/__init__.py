"""``rustorch.nn``: the PyTorch-habit namespace for modules, layers and losses."""
from ..stateful import (
    ELU,
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    BCEWithLogitsLoss,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
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
    Unflatten,
)
from . import functional

# --- sequence models: embedding, normalisation, recurrent layers, attention, Transformers ---
from ..stateful import (
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
    RNNBase,
    RNNCell,
    RNNCellBase,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from . import utils
# Data parallelism over devices and processes (rustorch.distributed)
from . import parallel
from .parallel import DataParallel
from ..stateful._sync_batchnorm import SyncBatchNorm
# --- more losses, init, utils (surface block) ---
from ..stateful import (
    BCELoss,
    CosineEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    MarginRankingLoss,
    SmoothL1Loss,
    TripletMarginLoss,
)
from . import init, utils
