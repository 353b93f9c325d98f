"""Attention layers for feature maps, written once for every paper that describes one.

Each is a serialisable Keras layer built from `keras.ops` only, so it runs under TensorFlow, JAX and
PyTorch alike, saves with `model.save` and loads with `keras.models.load_model`. Each exposes the
weights it computes (`*_weights` methods), so tests and reports can check them:

- `RegionAttention` (khalid2025's "dynamic region attention"): the map cut into a grid of facial
  regions; a small shared MLP scores each region's pooled features; a softmax over the regions gives
  input-dependent weights that sum to one; each region is scaled by its weight times the number of
  regions, so equal weights leave the map unchanged.
- `SpatialSelfAttention` (khalid2025's "self-attention"): multi-head self-attention over the map's
  H*W positions with a learned position embedding (attention alone is blind to where a position is),
  a residual connection and layer normalisation: a transformer encoder's attention sublayer.
- `DynamicAttention` (mahdi2025's "dynamic attention mechanism"): channel gates from a
  squeeze-and-excitation MLP, and a spatial gate from a convolution whose kernel is an
  input-dependent softmax mixture of `num_kernels` kernels (dynamic convolution, Chen et al., CVPR
  2020); both gates are sigmoids, so bounded in (0, 1).
"""
from __future__ import annotations

import keras
from keras import layers, ops

from ..errors import FerError


def _check_positive_ints(**values: object) -> None:
    """A FerError naming the first of `values` that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FerError(f"{name} must be a positive integer, got {value!r}")


def _map_shape(layer: layers.Layer, input_shape: tuple) -> tuple[int, int, int]:
    """(H, W, C) of a feature-map input, or a FerError saying the layer needs a known 4-D shape."""
    if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
        raise FerError(f"{type(layer).__name__} {layer.name!r} needs a feature map of known shape (batch, height, "
                       f"width, channels), got {tuple(input_shape)}")
    return tuple(int(d) for d in input_shape[1:])


@keras.saving.register_keras_serializable(package="fer_lib")
class RegionAttention(layers.Layer):
    """Input-dependent weights over a `grid` (rows, columns) of regions of the feature map.

    The map's height and width must be multiples of the grid's rows and columns (a FerError lists
    the grids that fit). `hidden_units`: width of the MLP that scores a region from its average- and
    max-pooled features."""

    def __init__(self, grid: tuple[int, int] = (3, 3), hidden_units: int = 64, **kwargs):
        super().__init__(**kwargs)
        grid = tuple(grid) if isinstance(grid, (tuple, list)) else grid
        if (not isinstance(grid, tuple) or len(grid) != 2
                or any(isinstance(g, bool) or not isinstance(g, int) or g < 1 for g in grid)):
            raise FerError(f"region grid must be two positive integers (rows, columns), got {grid!r}")
        _check_positive_ints(hidden_units=hidden_units)
        self.grid = grid
        self.hidden_units = hidden_units
        # sublayers take this layer's dtype policy: under mixed precision, a model loaded from a file
        # (outside any policy scope) would otherwise build them in float32
        self.hidden = layers.Dense(hidden_units, activation="relu", name="region_hidden", dtype=self.dtype_policy)
        self.score = layers.Dense(1, name="region_score", dtype=self.dtype_policy)

    def build(self, input_shape):
        height, width, channels = _map_shape(self, input_shape)
        rows, cols = self.grid
        if height % rows or width % cols:
            fits = [(r, c) for r in range(1, height + 1) for c in range(1, width + 1)
                    if not height % r and not width % c and 1 < r * c <= 16]
            raise FerError(f"region grid {rows}x{cols} does not fit the {height}x{width} feature map of "
                           f"{self.name!r} (its height and width must be multiples of the grid's rows and "
                           f"columns); grids that fit: {', '.join(f'{r}x{c}' for r, c in fits) or 'none'}, or "
                           f"change the input size")
        self.hidden.build((None, rows * cols, 2 * channels))
        self.score.build((None, rows * cols, self.hidden_units))
        super().build(input_shape)

    def region_weights(self, x):
        """Per image, the softmax weight of each region: shape (batch, rows, columns), summing to one."""
        height, width, channels = x.shape[1:]
        rows, cols = self.grid
        cells = ops.reshape(x, (-1, rows, height // rows, cols, width // cols, channels))
        descriptor = ops.concatenate([ops.mean(cells, axis=(2, 4)), ops.max(cells, axis=(2, 4))], axis=-1)
        logits = self.score(self.hidden(ops.reshape(descriptor, (-1, rows * cols, 2 * channels))))
        weights = ops.softmax(ops.cast(ops.squeeze(logits, -1), "float32"), axis=-1)
        return ops.reshape(weights, (-1, rows, cols))

    def call(self, x):
        height, width = x.shape[1:3]
        rows, cols = self.grid
        scale = self.region_weights(x) * (rows * cols)
        scale = ops.repeat(ops.repeat(scale, height // rows, axis=1), width // cols, axis=2)
        return x * ops.cast(ops.expand_dims(scale, -1), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "grid": list(self.grid), "hidden_units": self.hidden_units}


@keras.saving.register_keras_serializable(package="fer_lib")
class SpatialSelfAttention(layers.Layer):
    """Multi-head self-attention over the positions of a feature map, with a learned position
    embedding, a residual connection and layer normalisation; the output has the input's shape."""

    def __init__(self, num_heads: int = 4, key_dim: int = 32, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        _check_positive_ints(num_heads=num_heads, key_dim=key_dim)
        if not 0 <= dropout < 1:
            raise FerError(f"dropout must be in [0, 1), got {dropout!r}")
        self.num_heads, self.key_dim, self.dropout = num_heads, key_dim, dropout
        self.attention = layers.MultiHeadAttention(num_heads, key_dim, dropout=dropout, name="attention",
                                                   dtype=self.dtype_policy)
        self.norm = layers.LayerNormalization(epsilon=1e-6, name="norm", dtype=self.dtype_policy)

    def build(self, input_shape):
        height, width, channels = _map_shape(self, input_shape)
        positions = height * width
        self.position_embedding = self.add_weight(
            name="position_embedding", shape=(positions, channels),
            initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.attention.build((None, positions, channels), (None, positions, channels))
        self.norm.build((None, positions, channels))
        super().build(input_shape)

    def _sequence(self, x):
        height, width, channels = x.shape[1:]
        return ops.reshape(x, (-1, height * width, channels))

    def attention_weights(self, x):
        """Per image and head, each position's attention over all positions: (batch, heads, HW, HW);
        each row sums to one."""
        seq = self._sequence(x)
        query = seq + ops.cast(self.position_embedding, seq.dtype)
        _, scores = self.attention(query, query, seq, return_attention_scores=True)
        return scores

    def call(self, x, training=None):
        seq = self._sequence(x)
        # positions are added to the queries and keys (where attention decides), not to the values
        query = seq + ops.cast(self.position_embedding, seq.dtype)
        attended = self.attention(query, query, seq, training=training)
        return ops.reshape(self.norm(seq + attended), ops.shape(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="fer_lib")
class DynamicAttention(layers.Layer):
    """Channel and spatial gates computed from each input at run time, both in (0, 1).

    Channel: sigmoid(MLP(average- and max-pooled features)), the MLP `reduction` times narrower.
    Spatial: sigmoid of a `kernel_size` convolution of the channel-wise mean and max, whose kernel is
    a softmax mixture of `num_kernels` kernels with mixing weights from the pooled features (a
    convolution is linear, so mixing the kernels' outputs is mixing the kernels)."""

    def __init__(self, reduction: int = 8, num_kernels: int = 4, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        _check_positive_ints(reduction=reduction, num_kernels=num_kernels, kernel_size=kernel_size)
        self.reduction, self.num_kernels, self.kernel_size = reduction, num_kernels, kernel_size

    def build(self, input_shape):
        _, _, channels = _map_shape(self, input_shape)
        hidden = max(channels // self.reduction, 4)
        policy = dict(dtype=self.dtype_policy)  # see RegionAttention
        self.channel_hidden = layers.Dense(hidden, activation="relu", name="channel_hidden", **policy)
        self.channel_gate = layers.Dense(channels, name="channel_gate", **policy)
        self.mixing = layers.Dense(self.num_kernels, name="kernel_mixing", **policy)
        self.kernels = layers.Conv2D(self.num_kernels, self.kernel_size, padding="same", name="spatial_kernels", **policy)
        self.channel_hidden.build((None, 2 * channels))
        self.channel_gate.build((None, hidden))
        self.mixing.build((None, 2 * channels))
        self.kernels.build((None, *input_shape[1:3], 2))
        super().build(input_shape)

    def gates(self, x):
        """(channel gates (batch, 1, 1, C), spatial gate (batch, H, W, 1), kernel mixing weights (batch, K)):
        gates in (0, 1), mixing weights summing to one."""
        pooled = ops.concatenate([ops.mean(x, axis=(1, 2)), ops.max(x, axis=(1, 2))], axis=-1)
        channel = ops.sigmoid(self.channel_gate(self.channel_hidden(pooled)))[:, None, None, :]
        mixing = ops.softmax(ops.cast(self.mixing(pooled), "float32"), axis=-1)
        descriptor = ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        responses = ops.cast(self.kernels(descriptor), "float32")  # (batch, H, W, K)
        spatial = ops.sigmoid(ops.sum(responses * mixing[:, None, None, :], axis=-1, keepdims=True))
        return channel, spatial, mixing

    def call(self, x):
        channel, spatial, _ = self.gates(x)
        return x * ops.cast(channel, x.dtype) * ops.cast(spatial, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "num_kernels": self.num_kernels,
                "kernel_size": self.kernel_size}
