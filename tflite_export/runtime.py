"""Running .tflite files with ai-edge-litert: batched predictions, top-1, latency."""

import time

import numpy as np


class TFLiteModel:
    """A .tflite file loaded in the LiteRT interpreter, fed float32 images.

    Quantized (int8/uint8) inputs are quantized with the file's own scale and
    zero point; outputs are returned dequantized as float32. A file whose
    signature fixes the batch (the exporter's deploy files: `[1, H, W, C]`) is
    fed that many images per invoke; a dynamic batch (`-1`) is resized to the
    chunk.

    Args:
        model: path of a .tflite file, or its bytes.
        threads: interpreter threads.
    """

    def __init__(self, model, threads=1):
        from ai_edge_litert.interpreter import Interpreter

        content = model if isinstance(model, (bytes, bytearray)) else None
        self.threads = threads
        self.interpreter = Interpreter(model_path=None if content is not None else str(model),
                                       model_content=content, num_threads=threads)
        self.interpreter.allocate_tensors()
        self._batch = None
        batch = int(self.input_details["shape_signature"][0])
        self.fixed_batch = batch if batch > 0 else None

    @property
    def input_details(self):
        return self.interpreter.get_input_details()[0]

    @property
    def output_details(self):
        return self.interpreter.get_output_details()[0]

    def _resize(self, batch):
        if batch != self._batch:
            shape = list(self.input_details["shape"])
            shape[0] = batch
            self.interpreter.resize_tensor_input(self.input_details["index"], shape)
            self.interpreter.allocate_tensors()
            self._batch = batch

    def predict(self, images, batch_size=256):
        """float32 outputs of the model for float32 `images` [N, H, W, C].

        `batch_size` is the chunk fed per invoke; a file with a fixed batch takes
        its own batch instead.
        """
        images = np.asarray(images, np.float32)
        batch_size = self.fixed_batch or batch_size
        outputs = []
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            self._resize(len(chunk))
            self.interpreter.set_tensor(self.input_details["index"], quantize(chunk, self.input_details))
            self.interpreter.invoke()
            outputs.append(dequantize(self.interpreter.get_tensor(self.output_details["index"]),
                                      self.output_details))
        return np.concatenate(outputs)

    def top1(self, images, labels, batch_size=256):
        """Top-1 accuracy of the file itself on `images`/`labels`."""
        predicted = np.argmax(self.predict(images, batch_size), axis=-1)
        return float(np.mean(predicted == np.asarray(labels).reshape(-1)))


def quantize(values, details):
    dtype = details["dtype"]
    if dtype == np.float32:
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(values, details):
    if details["dtype"] == np.float32:
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


def tensor_spec(details):
    """The manifest's description of a tensor (shape with batch 1, dtype, quantization)."""
    dtype = np.dtype(details["dtype"]).name
    shape = [int(d) for d in details["shape"]]
    shape[0] = 1
    quantization = None
    if dtype != "float32":
        scale, zero_point = details["quantization"]
        quantization = {"scale": float(scale), "zero_point": int(zero_point)}
    return {"shape": shape, "dtype": dtype, "quantization": quantization}


def benchmark(model, threads=1, runs=100, warmup_runs=10, seed=0):
    """Latency of one inference of batch 1, like LiteRT's benchmark_model.

    Returns (ms): `init` (load + allocate), `first` (first invoke), `warmup_mean`,
    then over `runs` steady-state invokes `mean`, `std`, `p50`, `p90`, and `runs`.
    """
    if runs < 1 or warmup_runs < 0:
        raise ValueError(f"runs must be >= 1 and warmup_runs >= 0, got {runs} and {warmup_runs}.")
    start = time.perf_counter()
    loaded = TFLiteModel(model, threads)
    init = time.perf_counter() - start
    interpreter, details = loaded.interpreter, loaded.input_details
    rng = np.random.default_rng(seed)
    sample = rng.standard_normal([1] + [int(d) for d in details["shape"][1:]]).astype(np.float32)
    interpreter.set_tensor(details["index"], quantize(sample, details))

    def timed():
        t = time.perf_counter()
        interpreter.invoke()
        return (time.perf_counter() - t) * 1e3

    first = timed()
    warm = [timed() for _ in range(warmup_runs)]
    steady = np.array([timed() for _ in range(runs)])
    return {
        "init": round(init * 1e3, 4), "first": round(first, 4),
        "warmup_mean": round(float(np.mean(warm)) if warm else first, 4),
        "mean": round(float(steady.mean()), 4), "std": round(float(steady.std()), 4),
        "p50": round(float(np.percentile(steady, 50, method="inverted_cdf")), 4),
        "p90": round(float(np.percentile(steady, 90, method="inverted_cdf")), 4), "runs": int(runs),
    }
