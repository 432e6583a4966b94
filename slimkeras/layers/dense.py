"""The slimmable dense layer: a full-size kernel, its input (and optionally output) sliced in `call`."""

import keras
import tensorflow as tf

from slimkeras.layers.conv import SlicedOutputLayer
from slimkeras.layers.costs import dense_cost


@keras.saving.register_keras_serializable(package="slimkeras")
class SlimmableDense(SlicedOutputLayer):
    """Dense layer that reads however many features its input has.

    By default only the input is sliced (the classifier of a slimmable
    network keeps all its classes); `slice_output=True` slices the units too.
    Its static form is a Keras `Dense`.

    Args:
        units: output units at width 1.0.
        use_bias: whether to add a bias.
        slice_output, channel_ratio, divisor, max_width, stage,
        output_averaging: as SlimmableConv2D.
        kernel_initializer, bias_initializer, kernel_regularizer: as Keras' Dense.

    Example:

    ```python
    logits = slimkeras.layers.SlimmableDense(10)(pooled_features)
    ```
    """

    def __init__(
        self,
        units,
        use_bias=True,
        slice_output=False,
        channel_ratio=1,
        divisor=8,
        max_width=1.0,
        output_averaging=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            units, slice_output, channel_ratio, divisor, max_width, output_averaging,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer, **kwargs,
        )

    @property
    def units(self):
        return self.units_base

    def _kernel_shape(self, in_channels):
        return (in_channels, self.max_units)

    def _apply_kernel(self, inputs, kernel):
        return tf.matmul(inputs, kernel)

    def _keras_layer(self, out_channels):
        return keras.layers.Dense(out_channels, use_bias=self.use_bias, name=self.name,
                                  dtype=self.dtype_policy)

    def cost(self, input_shapes, output_shape):
        return dense_cost(input_shapes[0][-1], output_shape[-1], self.use_bias)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.max_units,)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units_base
        return config
