package org.slimkeras.core;

/**
 * Turns camera pixels into model input following a manifest's {@link Preprocessing}: grayscale
 * if the model has one channel, then {@code (value / scale - mean[c]) / std[c]}, NHWC order.
 */
public final class Preprocessor {
    private Preprocessor() {
    }

    /**
     * @param argbPixels {@code height * width} pixels in row-major order, already resized to
     *     the model's input size, as packed ARGB ints (Android's Bitmap.getPixels format)
     * @return {@code height * width * channels} normalized floats
     */
    public static float[] normalize(int[] argbPixels, Preprocessing p) {
        int pixels = p.height() * p.width();
        if (argbPixels.length != pixels) {
            throw new IllegalArgumentException("expected " + pixels + " pixels ("
                    + p.height() + "x" + p.width() + "), got " + argbPixels.length);
        }
        int channels = p.channels();
        float[] out = new float[pixels * channels];
        for (int i = 0; i < pixels; i++) {
            int argb = argbPixels[i];
            int r = (argb >> 16) & 0xff;
            int g = (argb >> 8) & 0xff;
            int b = argb & 0xff;
            if (channels == 1) {
                out[i] = normalized(0.299 * r + 0.587 * g + 0.114 * b, p, 0);
            } else {
                out[3 * i] = normalized(r, p, 0);
                out[3 * i + 1] = normalized(g, p, 1);
                out[3 * i + 2] = normalized(b, p, 2);
            }
        }
        return out;
    }

    private static float normalized(double value, Preprocessing p, int channel) {
        return (float) ((value / p.scale() - p.mean(channel)) / p.std(channel));
    }
}
