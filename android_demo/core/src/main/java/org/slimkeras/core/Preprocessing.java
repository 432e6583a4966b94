package org.slimkeras.core;

/**
 * How camera pixels become model input ({@code "preprocessing"} in manifest.json):
 * resize to {@code height × width}, grayscale if {@code channels == 1}, then per channel
 * {@code (pixel / scale - mean[c]) / std[c]}, laid out NHWC (the only layout of schema 1).
 */
public final class Preprocessing {
    private final int height;
    private final int width;
    private final int channels;
    private final double scale;
    private final double[] mean;
    private final double[] std;

    /** @param mean and {@code std}: one value per channel */
    public Preprocessing(int height, int width, int channels, double scale, double[] mean,
                         double[] std) {
        this.height = height;
        this.width = width;
        this.channels = channels;
        this.scale = scale;
        this.mean = mean.clone();
        this.std = std.clone();
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
}
