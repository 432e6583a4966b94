package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

/** The app's frame geometry: centred square, upright rotation, resize (and resize/crop). */
class FrameConverterTest {
    private static int grey(int level) {
        return 0xff000000 | level * 0x010101;
    }

    private static int[] greys(int... levels) {
        int[] pixels = new int[levels.length];
        for (int i = 0; i < levels.length; i++) {
            pixels[i] = grey(levels[i]);
        }
        return pixels;
    }

    private static Preprocessing gray(int size, int resize, int crop) {
        return new Preprocessing(size, size, 1, 255.0, new double[] {0}, new double[] {1},
                resize, crop);
    }

    @Test
    void squareThenRotateThenTheInputSize() {
        // 4x2 frame, levels 0..7; its centred square is columns 1..2: 1 2 / 5 6
        ArgbImage frame = new ArgbImage(4, 2, greys(0, 1, 2, 3, 4, 5, 6, 7));
        Preprocessing p = gray(2, 0, 0);
        assertArrayEquals(greys(5, 1, 6, 2), FrameConverter.toModelPixels(frame, 90, p, false));
        assertArrayEquals(greys(2, 6, 1, 5), FrameConverter.toModelPixels(frame, 270, p, false));
        assertArrayEquals(greys(250, 254, 249, 253),
                FrameConverter.toModelPixels(frame, 90, p, true));
        // 1x1 input: the bilinear sample at the square's centre, the mean of its four pixels
        assertArrayEquals(greys(4), FrameConverter.toModelPixels(frame, 0, gray(1, 0, 0), false));
    }

    /** A 10x8 frame whose centred 8x8 square has level 20x + 2y (junk outside it). */
    private static ArgbImage ramp() {
        int[] levels = new int[10 * 8];
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 10; x++) {
                levels[y * 10 + x] = x == 0 || x == 9 ? 255 : 20 * (x - 1) + 2 * y;
            }
        }
        return new ArgbImage(10, 8, greys(levels));
    }

    @Test
    void imageNetResizeThenCentreCrop() {
        // 8x8 -> 4x4: pixel (u, v) is the mean of a 2x2 block, 40u + 4v + 11;
        // the centred 2x2 crop keeps u, v in {1, 2}
        int[] expected = greys(55, 95, 59, 99);
        assertArrayEquals(expected, FrameConverter.toModelPixels(ramp(), 0, gray(2, 4, 2), false));
        // without crop the centred crop has the input size
        assertArrayEquals(expected, FrameConverter.toModelPixels(ramp(), 0, gray(2, 4, 0), false));
        // a crop larger than the input is resized to it: the mean of the four
        assertArrayEquals(greys(77), FrameConverter.toModelPixels(ramp(), 0, gray(1, 4, 2), false));
    }
}
