"""``rustorch.nn.modules``: the layer classes under PyTorch's module paths.

Code written for PyTorch sometimes names a layer by its full path (``torch.nn.modules.rnn.LSTM``,
``torch.nn.modules.linear.Linear``: allow-lists for ``torch.load``, ``isinstance`` checks). Each
submodule here holds the same classes as :mod:`rustorch.nn`, grouped as PyTorch groups them.
"""
from __future__ import annotations

import sys
import types

from ... import nn as _nn

# PyTorch's submodule -> the classes it defines (those rustorch has are exposed).
_LAYOUT = {
    "activation": ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
                   "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softplus", "Softsign", "Hardtanh",
                   "Hardswish", "Hardsigmoid", "Tanhshrink", "Threshold", "GLU", "MultiheadAttention",
                   "Hardshrink", "Softshrink", "LogSigmoid", "Softmin", "Softmax2d", "RReLU"),
    "batchnorm": ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm1d",
                  "LazyBatchNorm2d", "LazyBatchNorm3d"),
    "channelshuffle": ("ChannelShuffle",),
    "container": ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"),
    "conv": ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
             "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
             "LazyConvTranspose3d"),
    "dropout": ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"),
    "fold": ("Fold", "Unfold"),
    "flatten": ("Flatten", "Unflatten"),
    "instancenorm": ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d",
                     "LazyInstanceNorm2d", "LazyInstanceNorm3d"),
    "linear": ("Identity", "Linear", "Bilinear", "LazyLinear"),
    "loss": ("L1Loss", "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
             "SmoothL1Loss", "HuberLoss", "CosineEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss"),
    "module": ("Module",),
    "normalization": ("LayerNorm", "GroupNorm", "RMSNorm", "LocalResponseNorm"),
    "padding": ("ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad1d", "ReflectionPad2d",
                "ReplicationPad1d", "ReplicationPad2d"),
    "pixelshuffle": ("PixelShuffle", "PixelUnshuffle"),
    "pooling": ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
                "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"),
    "rnn": ("RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"),
    "sparse": ("Embedding", "EmbeddingBag"),
    "transformer": ("Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
                    "TransformerDecoderLayer"),
    "upsampling": ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"),
}

# Margin, likelihood and CTC losses; distances.
_LAYOUT["loss"] += ("GaussianNLLLoss", "PoissonNLLLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "MultiMarginLoss",
                    "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "TripletMarginWithDistanceLoss", "CTCLoss",
                    "NLLLoss2d")
_LAYOUT["distance"] = ("PairwiseDistance", "CosineSimilarity")

def _submodule(name: str, classes: tuple) -> types.ModuleType:
    module = types.ModuleType(f"{__name__}.{name}", f"PyTorch's ``torch.nn.modules.{name}`` classes.")
    for cls in classes:
        if hasattr(_nn, cls):
            setattr(module, cls, getattr(_nn, cls))
            globals()[cls] = getattr(_nn, cls)
    sys.modules[module.__name__] = module
    return module


for _name, _classes in _LAYOUT.items():
    globals()[_name] = _submodule(_name, _classes)
# PyTorch's MultiheadAttention.out_proj is this Linear subclass; here it is Linear itself.
linear.NonDynamicallyQuantizableLinear = _nn.Linear  # noqa: F821 (made by the loop above)
del _name, _classes
