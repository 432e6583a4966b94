package org.slimkeras.core;

/**
 * Turns a camera frame into the model's input pixels following a manifest's
 * {@link Preprocessing}: the centred square of the frame, rotated upright, resized to the input
 * size (with {@code resize}: first to {@code resize × resize}, then the centred
 * {@code crop × crop}, or {@code height × width} without {@code crop}, resized to the input
 * size if it differs), colours inverted if asked. {@link Preprocessor#normalize} takes it from
 * there.
 */
public final class FrameConverter {
    private FrameConverter() {
    }

    /**
     * @param frame the camera frame as delivered (before rotation)
     * @param rotationDegrees clockwise rotation that makes the frame upright (0, 90, 180, 270)
     * @param invert whether to invert the colours (Fashion-MNIST shows light clothes on black)
     * @return {@code height * width} ARGB pixels, row by row
     */
    public static int[] toModelPixels(ArgbImage frame, int rotationDegrees, Preprocessing p,
                                      boolean invert) {
        ArgbImage image = ImageOps.rotate(ImageOps.centreSquare(frame), rotationDegrees);
        if (p.resize() > 0) {
            ArgbImage resized = ImageOps.resizeBilinear(image, p.resize(), p.resize());
            image = p.crop() > 0
                    ? ImageOps.centreCrop(resized, p.crop(), p.crop())
                    : ImageOps.centreCrop(resized, p.width(), p.height());
        }
        image = ImageOps.resizeBilinear(image, p.width(), p.height());
        return (invert ? ImageOps.invert(image) : image).pixels();
    }
}
