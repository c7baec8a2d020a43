"""rustorch.functional: pure JAX functions with PyTorch's layouts, defaults and numerics.

Nothing here holds state or mutates anything: parameters, BatchNorm statistics, PRNG keys and
optimizer state are explicit arguments and results, so every function composes with
``jax.jit``, ``jax.grad`` and ``jax.vmap``. Inputs use PyTorch's layouts (NCHW images, OIHW
convolution weights, ``[out, in]`` linear weights). ``conv2d``, ``batch_norm``, ``max_pool2d``,
``avg_pool2d``, ``adaptive_avg_pool2d`` and ``dropout`` also take ``layout="NHWC"`` for
channels-last ``[N, H, W, C]`` activations (the same values and gradients as on the NCHW
transpose), the faster layout for XLA on CPU.
"""

# --- conv, pooling, linear, activations, shape ---
from ._activations import (
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from ._conv import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from ._linear import linear
from ._pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ._shape import flatten

# --- batch norm, dropout, losses ---
from ._batch_norm import BatchNormState, batch_norm
from ._dropout import dropout
from ._losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
)

# --- initialisers, optimizers ---
from ._adam import AdamHyperparams, AdamState, adam, adamw
from ._init import (
    calculate_gain,
    conv2d_init,
    fan_in_and_fan_out,
    kaiming_normal,
    kaiming_uniform,
    linear_init,
    uniform,
    xavier_normal,
    xavier_uniform,
)
from ._optimizer import Optimizer, with_hyperparams
from ._sgd import SGDHyperparams, SGDState, sgd

# --- advanced CNN ops: N-d pooling, padding, resizing, feature dropout, normalisation ---
from ._activations import hardsigmoid, hardswish, mish, prelu, relu6
from ._feature_dropout import dropout1d, dropout2d, dropout3d
from ._interpolate import interpolate, pixel_shuffle, pixel_unshuffle
from ._instance_norm import instance_norm, local_response_norm
from ._padding import pad
from ._pooling import (
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    max_pool1d,
)

# --- sequence models: embedding, normalisation, recurrent layers, attention ---
from ._attention import multi_head_attention_forward, scaled_dot_product_attention
from ._embedding import embedding, embedding_renorm
from ._normalization import group_norm, layer_norm, rms_norm
from ._rnn import RNNWeights, gru_cell, lstm_cell, rnn, rnn_relu_cell, rnn_tanh_cell
from ._adadelta import AdadeltaHyperparams, AdadeltaState, adadelta
from ._adagrad import AdagradHyperparams, AdagradState, adagrad
from ._adamax import AdamaxHyperparams, AdamaxState, adamax
from ._nadam import NAdamHyperparams, NAdamState, nadam
from ._radam import RAdamHyperparams, RAdamState, radam
from ._rmsprop import RMSpropHyperparams, RMSpropState, rmsprop

# --- more losses, distances, one_hot (surface block) ---
from ._losses import (
    binary_cross_entropy,
    cosine_embedding_loss,
    cosine_similarity,
    huber_loss,
    kl_div,
    margin_ranking_loss,
    normalize,
    one_hot,
    pairwise_distance,
    smooth_l1_loss,
    triplet_margin_loss,
)

# --- N-d pooling: 3-d pools, indices, unpooling, power-average pooling ---
from ._pooling import (
    adaptive_avg_pool3d,
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d_with_indices,
    adaptive_max_pool3d,
    adaptive_max_pool3d_with_indices,
    avg_pool3d,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d_with_indices,
    max_pool2d_with_indices,
    max_pool3d,
    max_pool3d_with_indices,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
# --- margin / likelihood / CTC losses, bilinear, pdist, embedding bags (more block) ---
from ._bilinear import bilinear, pdist
from ._ctc import ctc_loss
from ._embedding_bag import embedding_bag
from ._margin_losses import (
    gaussian_nll_loss,
    hinge_embedding_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_with_distance_loss,
)
# --- more activations, alpha dropout, sampling grids and patches ---
from ._activations_more import (
    alpha_dropout,
    celu,
    feature_alpha_dropout,
    glu,
    hardshrink,
    logsigmoid,
    rrelu,
    selu,
    softmin,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from ._grid import affine_grid, channel_shuffle, fold, grid_sample, unfold
