"""``rustorch.nn.functional``: functional ops on rustorch Variables, as ``torch.nn.functional``.

For pure functions on JAX arrays (to use inside your own ``jax.jit``), see
:mod:`rustorch.functional`.
"""
from ..stateful._nn_functional import (
    adaptive_avg_pool2d,
    avg_pool2d,
    batch_norm,
    binary_cross_entropy_with_logits,
    conv2d,
    cross_entropy,
    elu,
    flatten,
    gelu,
    hardtanh,
    l1_loss,
    leaky_relu,
    linear,
    log_softmax,
    max_pool2d,
    mse_loss,
    nll_loss,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from ..stateful._layers import dropout

# --- sequence models: embedding, normalisation, attention ---
from ..stateful._sequence import embedding, group_norm, layer_norm, rms_norm
from ..stateful._transformer import multi_head_attention_forward, scaled_dot_product_attention
# --- more losses, distances, one_hot (surface block) ---
from ..stateful._nn_functional import (
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

# --- advanced CNNs: N-d convolution, pooling, padding, resizing, image normalisation ---
from ..stateful._nn_functional_cnn import (
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    conv1d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    dropout1d,
    dropout2d,
    dropout3d,
    hardsigmoid,
    hardswish,
    instance_norm,
    interpolate,
    local_response_norm,
    max_pool1d,
    mish,
    pad,
    pixel_shuffle,
    pixel_unshuffle,
    prelu,
    relu6,
    upsample,
)

# --- more activations (with inplace= and the in-place *_ variants), alpha dropout, sampling grids,
# patches; relu, elu, leaky_relu, hardtanh, relu6, silu, mish, hardswish and hardsigmoid are
# rebound here to their forms that take inplace= ---
from ..stateful._nn_functional_act import (
    affine_grid,
    alpha_dropout,
    celu,
    celu_,
    channel_shuffle,
    elu,
    elu_,
    feature_alpha_dropout,
    fold,
    glu,
    grid_sample,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    hardtanh_,
    leaky_relu,
    leaky_relu_,
    logsigmoid,
    mish,
    relu,
    relu6,
    relu_,
    rrelu,
    rrelu_,
    selu,
    selu_,
    silu,
    softmin,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
    threshold_,
    unfold,
    upsample_bilinear,
    upsample_nearest,
)
