"""Sample images for the browser demo: the first test images of the export's dataset, as PNG.

The page (`web_demo/`) offers them beside the images a user drops. Only Fashion-MNIST exports
(28×28×1, its ten labels) have samples; they come from the files `slimkeras.datasets` finds
(Debian's dataset-fashion-mnist), encoded here with the standard library.
"""

import struct
import zlib


def fashion_samples(manifest, count=8):
    """[(name, label, png bytes)] of the first `count` Fashion-MNIST test images, or [].

    [] unless the manifest's labels and input are Fashion-MNIST's and its files are found.
    """
    from slimkeras.datasets import DataError, fashion_mnist

    pre = manifest.get("preprocessing", {})
    if manifest.get("labels") != list(fashion_mnist.LABELS) or (pre.get("height"), pre.get("width"),
                                                                pre.get("channels")) != (28, 28, 1):
        return []
    try:
        images, labels = fashion_mnist.load_split("test")
    except DataError:
        return []
    return [(f"test{i}", fashion_mnist.LABELS[int(labels[i])], gray_png(images[i, :, :, 0]))
            for i in range(min(count, len(images)))]


def gray_png(pixels):
    """An 8-bit grayscale PNG of a uint8 [H, W] array (no filter, zlib level 9)."""
    height, width = pixels.shape
    raw = b"".join(b"\x00" + bytes(row) for row in pixels.astype("uint8"))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
