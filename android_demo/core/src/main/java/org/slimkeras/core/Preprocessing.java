package org.slimkeras.core;

/**
 * How camera pixels become model input ({@code "preprocessing"} in manifest.json): resize to
 * {@code height × width} (with {@code resize}: first to {@code resize × resize}, then a centre
 * crop of {@code crop × crop}, or of {@code height × width} without {@code crop}), grayscale if
 * {@code channels == 1}, then per channel {@code (pixel / scale - mean[c]) / std[c]}, laid out
 * NHWC (the only layout of schema 1). {@link FrameConverter} applies the geometry,
 * {@link Preprocessor} the rest.
 */
public final class Preprocessing {
    private final int height;
    private final int width;
    private final int channels;
    private final double scale;
    private final double[] mean;
    private final double[] std;
    private final int resize;
    private final int crop;

    /** Without {@code resize} and {@code crop}: frames are resized to the input size directly. */
    public Preprocessing(int height, int width, int channels, double scale, double[] mean,
                         double[] std) {
        this(height, width, channels, scale, mean, std, 0, 0);
    }

    /**
     * @param mean and {@code std}: one value per channel
     * @param resize side the square frame is resized to before the centre crop; 0: none
     * @param crop side of the centre crop after {@code resize}; 0: the input size
     */
    public Preprocessing(int height, int width, int channels, double scale, double[] mean,
                         double[] std, int resize, int crop) {
        this.height = height;
        this.width = width;
        this.channels = channels;
        this.scale = scale;
        this.mean = mean.clone();
        this.std = std.clone();
        this.resize = resize;
        this.crop = crop;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    /** 1 (grayscale) or 3 (RGB). */
    public int channels() {
        return channels;
    }

    /** Divisor that maps raw pixel values to [0, 1], usually 255. */
    public double scale() {
        return scale;
    }

    public double mean(int channel) {
        return mean[channel];
    }

    public double std(int channel) {
        return std[channel];
    }

    /** Side of the square the frame is resized to before the centre crop, or 0 (none). */
    public int resize() {
        return resize;
    }

    /** Side of the square centre crop after {@link #resize()}, or 0 (the input size). */
    public int crop() {
        return crop;
    }
}
