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

# --- N-d pooling: 3-d pools, indices, power-average pooling, max unpooling ---
from ..stateful._nn_functional_cnn import (
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
from ..stateful._nn_functional_more import (
    bilinear,
    ctc_loss,
    embedding_bag,
    gaussian_nll_loss,
    hinge_embedding_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    pdist,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_with_distance_loss,
)
