package org.slimkeras.core;

/**
 * The geometry and colour operations the app applies to camera frames, on {@link ArgbImage}s
 * (plain Java, so they are tested without Android).
 */
public final class ImageOps {
    private ImageOps() {
    }

    /**
     * The {@code width × height} region whose top-left pixel is ({@code x}, {@code y}).
     *
     * @throws IllegalArgumentException if the region is empty or leaves the image
     */
    public static ArgbImage crop(ArgbImage image, int x, int y, int width, int height) {
        if (width < 1 || height < 1 || x < 0 || y < 0 || x + width > image.width()
                || y + height > image.height()) {
            throw new IllegalArgumentException("crop " + width + "x" + height + " at (" + x
                    + ", " + y + ") does not fit a " + image.width() + "x" + image.height()
                    + " image");
        }
        int[] out = new int[width * height];
        for (int row = 0; row < height; row++) {
            for (int col = 0; col < width; col++) {
                out[row * width + col] = image.pixel(x + col, y + row);
            }
        }
        return new ArgbImage(width, height, out);
    }

    /**
     * The centred {@code width × height} region; an odd margin leaves its extra pixel on the
     * right or bottom (offsets {@code (W - width) / 2}, {@code (H - height) / 2}).
     */
    public static ArgbImage centreCrop(ArgbImage image, int width, int height) {
        return crop(image, (image.width() - width) / 2, (image.height() - height) / 2, width,
                height);
    }

    /** The largest centred square. */
    public static ArgbImage centreSquare(ArgbImage image) {
        int side = Math.min(image.width(), image.height());
        return centreCrop(image, side, side);
    }

    /**
     * Rotates clockwise by {@code degrees} (0, 90, 180 or 270, as CameraX's
     * {@code ImageInfo.getRotationDegrees} reports them): 90 and 270 swap width and height.
     *
     * @throws IllegalArgumentException for another angle
     */
    public static ArgbImage rotate(ArgbImage image, int degrees) {
        int w = image.width();
        int h = image.height();
        switch (degrees) {
            case 0:
                return image;
            case 90: {
                int[] out = new int[w * h];
                for (int y = 0; y < w; y++) {
                    for (int x = 0; x < h; x++) {
                        out[y * h + x] = image.pixel(y, h - 1 - x);
                    }
                }
                return new ArgbImage(h, w, out);
            }
            case 180: {
                int[] out = new int[w * h];
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        out[y * w + x] = image.pixel(w - 1 - x, h - 1 - y);
                    }
                }
                return new ArgbImage(w, h, out);
            }
            case 270: {
                int[] out = new int[w * h];
                for (int y = 0; y < w; y++) {
                    for (int x = 0; x < h; x++) {
                        out[y * h + x] = image.pixel(w - 1 - y, x);
                    }
                }
                return new ArgbImage(h, w, out);
            }
            default:
                throw new IllegalArgumentException(
                        "rotation must be 0, 90, 180 or 270 degrees, got " + degrees);
        }
    }

    /**
     * Bilinear resize with pixel-centre alignment and clamped edges, each ARGB channel on its
     * own, rounded to the nearest level: output pixel {@code d} samples the input at
     * {@code (d + 0.5) * in / out - 0.5}. This is the geometry of Android's filtered
     * {@code Bitmap.createScaledBitmap} and of TF2's {@code tf.image.resize(method="bilinear")}
     * (no antialiasing). The same size returns the image unchanged.
     */
    public static ArgbImage resizeBilinear(ArgbImage image, int width, int height) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("resize target must be at least 1x1, got "
                    + width + "x" + height);
        }
        if (width == image.width() && height == image.height()) {
            return image;
        }
        Axis xs = new Axis(image.width(), width);
        Axis ys = new Axis(image.height(), height);
        int[] out = new int[width * height];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int topLeft = image.pixel(xs.low[x], ys.low[y]);
                int topRight = image.pixel(xs.high[x], ys.low[y]);
                int bottomLeft = image.pixel(xs.low[x], ys.high[y]);
                int bottomRight = image.pixel(xs.high[x], ys.high[y]);
                int argb = 0;
                for (int shift = 0; shift < 32; shift += 8) {
                    double top = lerp(channel(topLeft, shift), channel(topRight, shift),
                            xs.frac[x]);
                    double bottom = lerp(channel(bottomLeft, shift), channel(bottomRight, shift),
                            xs.frac[x]);
                    long level = Math.round(lerp(top, bottom, ys.frac[y]));
                    argb |= (int) Math.max(0, Math.min(255, level)) << shift;
                }
                out[y * width + x] = argb;
            }
        }
        return new ArgbImage(width, height, out);
    }

    /** Inverts the colours and keeps the alpha (light clothes on black, as Fashion-MNIST). */
    public static ArgbImage invert(ArgbImage image) {
        int[] pixels = image.pixels();
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] ^= 0x00FFFFFF;
        }
        return new ArgbImage(image.width(), image.height(), pixels);
    }

    private static int channel(int argb, int shift) {
        return (argb >>> shift) & 0xff;
    }

    private static double lerp(double a, double b, double t) {
        return a + (b - a) * t;
    }

    /** For each output index along one axis: the two input indices and the weight of the second. */
    private static final class Axis {
        final int[] low;
        final int[] high;
        final double[] frac;

        Axis(int inSize, int outSize) {
            low = new int[outSize];
            high = new int[outSize];
            frac = new double[outSize];
            double scale = (double) inSize / outSize;
            for (int d = 0; d < outSize; d++) {
                double source = (d + 0.5) * scale - 0.5;
                int floor = (int) Math.floor(source);
                low[d] = Math.max(0, Math.min(inSize - 1, floor));
                high[d] = Math.max(0, Math.min(inSize - 1, floor + 1));
                frac[d] = source - floor;
            }
        }
    }
}
