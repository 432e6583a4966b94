"""A small Fashion-MNIST export for the browser tests: untrained US-MobileNet v1, BN calibrated.

Untrained weights are enough to compare the page's outputs with the Python LiteRT
interpreter's; top-1 labels are compared on real test images.
"""

WIDTHS = (0.25, 0.5, 0.75, 1.0)


def build_small_export(out_dir, precisions=("fp32", "int8"), calibration_images=256):
    """Exports a 28×28×1, 10-class US-Net at `WIDTHS` into `out_dir`; returns the manifest.

    Args:
        out_dir: the export directory (created).
        precisions: the exported precisions.
        calibration_images: Fashion-MNIST training images for BN calibration and int8 ranges.
    """
    import keras

    import slimkeras
    from slimkeras.datasets import load_images
    from tflite_export.export import export_model

    keras.utils.set_random_seed(0)
    model = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(28, 28, 1),
                                          num_classes=10)
    images, _ = load_images("fashion_mnist", "train", (28, 28, 1), None, calibration_images, 0)
    slimkeras.calibrate_bn(model, images, widths=list(WIDTHS), num_images=len(images), verbose=0)
    return export_model(model, str(out_dir), list(WIDTHS), precisions, dataset="fashion_mnist",
                        representative=images, eval_images=200, bench_threads=(1,), bench_runs=20,
                        verbose=0)
