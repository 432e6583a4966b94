package org.slimkeras.core;

/**
 * An image as packed ARGB ints in row-major order (the format of Android's
 * {@code Bitmap.getPixels}), with its width and height. Immutable: {@link ImageOps} returns new
 * images.
 */
public final class ArgbImage {
    private final int width;
    private final int height;
    private final int[] pixels;

    /**
     * @param pixels {@code width * height} ARGB pixels, row by row (copied)
     * @throws IllegalArgumentException for a size below 1 or a wrong pixel count
     */
    public ArgbImage(int width, int height, int[] pixels) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image size must be at least 1x1, got "
                    + width + "x" + height);
        }
        if (pixels.length != (long) width * height) {
            throw new IllegalArgumentException("a " + width + "x" + height + " image has "
                    + (long) width * height + " pixels, got " + pixels.length);
        }
        this.width = width;
        this.height = height;
        this.pixels = pixels.clone();
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** The pixel in column {@code x}, row {@code y}. */
    public int pixel(int x, int y) {
        return pixels[y * width + x];
    }

    /** A copy of the pixels, row by row. */
    public int[] pixels() {
        return pixels.clone();
    }
}
