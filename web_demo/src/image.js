// Image -> model input with the Java core's arithmetic (FrameConverter.toModelPixels without
// the camera's rotation, ImageOps, Preprocessor.normalize): the centred square, resized
// bilinearly (pixel centres aligned, edges clamped, each channel rounded to the nearest level),
// or with `resize`/`crop` (ImageNet) first resized to resize × resize and centre-cropped; then
// grayscale (0.299 R + 0.587 G + 0.114 B) for 1-channel models, and
// (value / scale - mean[c]) / std[c] as a float32, NHWC. Images are {width, height, rgba}
// with `rgba` a Uint8ClampedArray of width * height * 4 (a canvas's ImageData).

/** The `width × height` region at (x, y) (ImageOps.crop). */
export function crop(image, x, y, width, height) {
  if (width < 1 || height < 1 || x < 0 || y < 0 || x + width > image.width || y + height > image.height) {
    throw new RangeError(`crop ${width}x${height} at (${x}, ${y}) does not fit a ${image.width}x${image.height} image`);
  }
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let row = 0; row < height; row++) {
    const start = ((y + row) * image.width + x) * 4;
    rgba.set(image.rgba.subarray(start, start + width * 4), row * width * 4);
  }
  return {width, height, rgba};
}

/** The centred region; an odd margin leaves its extra pixel on the right or bottom. */
export function centreCrop(image, width, height) {
  return crop(image, Math.floor((image.width - width) / 2), Math.floor((image.height - height) / 2), width, height);
}

/** The largest centred square. */
export function centreSquare(image) {
  const side = Math.min(image.width, image.height);
  return centreCrop(image, side, side);
}

/** Bilinear resize: output pixel d samples the input at (d + 0.5) * in / out - 0.5 (ImageOps.resizeBilinear). */
export function resizeBilinear(image, width, height) {
  if (width < 1 || height < 1) throw new RangeError(`resize target must be at least 1x1, got ${width}x${height}`);
  if (width === image.width && height === image.height) return image;
  const xs = axis(image.width, width);
  const ys = axis(image.height, height);
  const rgba = new Uint8ClampedArray(width * height * 4);
  const at = (x, y, c) => image.rgba[(y * image.width + x) * 4 + c];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 4; c++) {
        const top = lerp(at(xs.low[x], ys.low[y], c), at(xs.high[x], ys.low[y], c), xs.frac[x]);
        const bottom = lerp(at(xs.low[x], ys.high[y], c), at(xs.high[x], ys.high[y], c), xs.frac[x]);
        rgba[(y * width + x) * 4 + c] = Math.max(0, Math.min(255, javaRound(lerp(top, bottom, ys.frac[y]))));
      }
    }
  }
  return {width, height, rgba};
}

/** Inverted colours, alpha kept (light clothes on black, as Fashion-MNIST). */
export function invert(image) {
  const rgba = Uint8ClampedArray.from(image.rgba, (v, i) => (i % 4 === 3 ? v : 255 - v));
  return {width: image.width, height: image.height, rgba};
}

/** The model's input pixels of `image` (FrameConverter.toModelPixels at rotation 0). */
export function toModelPixels(image, p, invertColours = false) {
  let out = centreSquare(image);
  if (p.resize > 0) {
    const resized = resizeBilinear(out, p.resize, p.resize);
    out = p.crop > 0 ? centreCrop(resized, p.crop, p.crop) : centreCrop(resized, p.width, p.height);
  }
  out = resizeBilinear(out, p.width, p.height);
  return invertColours ? invert(out) : out;
}

/** height * width * channels normalized float32s (Preprocessor.normalize). */
export function normalize(image, p) {
  const pixels = p.height * p.width;
  if (image.width * image.height !== pixels) {
    throw new RangeError(`expected ${pixels} pixels (${p.height}x${p.width}), got ${image.width * image.height}`);
  }
  const out = new Float32Array(pixels * p.channels);
  const value = (v, c) => (v / p.scale - p.mean[c]) / p.std[c];
  for (let i = 0; i < pixels; i++) {
    const [r, g, b] = image.rgba.subarray(4 * i, 4 * i + 3);
    if (p.channels === 1) {
      out[i] = value(0.299 * r + 0.587 * g + 0.114 * b, 0);
    } else {
      out[3 * i] = value(r, 0);
      out[3 * i + 1] = value(g, 1);
      out[3 * i + 2] = value(b, 2);
    }
  }
  return out;
}

function axis(inSize, outSize) {
  const low = new Int32Array(outSize);
  const high = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    const source = (d + 0.5) * scale - 0.5;
    const floor = Math.floor(source);
    low[d] = Math.max(0, Math.min(inSize - 1, floor));
    high[d] = Math.max(0, Math.min(inSize - 1, floor + 1));
    frac[d] = source - floor;
  }
  return {low, high, frac};
}

function lerp(a, b, t) {
  return a + (b - a) * t;
}

/** Java's Math.round: floor(x + 0.5). */
function javaRound(x) {
  return Math.floor(x + 0.5);
}
