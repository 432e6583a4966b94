package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

/** {@link ImageOps} against hand-derived pixels and an independent bilinear reference. */
class ImageOpsTest {
    /** An opaque pixel whose red, green and blue are {@code v}, {@code 255 - v}, {@code v / 2}. */
    static int px(int v) {
        return 0xff000000 | v << 16 | (255 - v) << 8 | v / 2;
    }

    /** A 3-wide, 2-tall image: a b c / d e f. */
    private static final int A = px(1);
    private static final int B = px(2);
    private static final int C = px(3);
    private static final int D = px(4);
    private static final int E = px(5);
    private static final int F = px(6);
    private static final ArgbImage ABCDEF = new ArgbImage(3, 2, new int[] {A, B, C, D, E, F});

    private static void assertImage(int width, int height, int[] pixels, ArgbImage actual) {
        assertEquals(width, actual.width());
        assertEquals(height, actual.height());
        assertArrayEquals(pixels, actual.pixels());
    }

    @Test
    void rotationsTurnClockwise() {
        assertSame(ABCDEF, ImageOps.rotate(ABCDEF, 0));
        assertImage(2, 3, new int[] {D, A, E, B, F, C}, ImageOps.rotate(ABCDEF, 90));
        assertImage(3, 2, new int[] {F, E, D, C, B, A}, ImageOps.rotate(ABCDEF, 180));
        assertImage(2, 3, new int[] {C, F, B, E, A, D}, ImageOps.rotate(ABCDEF, 270));
        assertThrows(IllegalArgumentException.class, () -> ImageOps.rotate(ABCDEF, 45));
        assertThrows(IllegalArgumentException.class, () -> ImageOps.rotate(ABCDEF, -90));
    }

    /** A {@code width × height} image whose pixel i (row by row) is {@code px(i)}. */
    private static ArgbImage indexed(int width, int height) {
        int[] pixels = new int[width * height];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = px(i);
        }
        return new ArgbImage(width, height, pixels);
    }

    @Test
    void centreSquareTakesTheMiddleWithTheExtraPixelOnTheRightOrBottom() {
        // 6x3: columns 1..3 ((6 - 3) / 2 = 1)
        assertImage(3, 3, new int[] {px(1), px(2), px(3), px(7), px(8), px(9), px(13), px(14),
                px(15)}, ImageOps.centreSquare(indexed(6, 3)));
        // 7x2: columns 2..3
        assertImage(2, 2, new int[] {px(2), px(3), px(9), px(10)},
                ImageOps.centreSquare(indexed(7, 2)));
        // 2x5: rows 1..2
        assertImage(2, 2, new int[] {px(2), px(3), px(4), px(5)},
                ImageOps.centreSquare(indexed(2, 5)));
        ArgbImage square = indexed(3, 3);
        assertArrayEquals(square.pixels(), ImageOps.centreSquare(square).pixels());
    }

    @Test
    void cropTakesTheRegionAndRejectsOneOutside() {
        assertImage(2, 1, new int[] {px(7), px(8)}, ImageOps.crop(indexed(6, 3), 1, 1, 2, 1));
        assertImage(2, 2, new int[] {px(8), px(9), px(14), px(15)},
                ImageOps.centreCrop(indexed(6, 4), 2, 2)); // offsets (2, 1)
        assertThrows(IllegalArgumentException.class, () -> ImageOps.crop(ABCDEF, 2, 0, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> ImageOps.crop(ABCDEF, 0, 0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> ImageOps.crop(ABCDEF, -1, 0, 1, 1));
    }

    @Test
    void invertFlipsTheColoursAndKeepsAlpha() {
        ArgbImage image = new ArgbImage(2, 1, new int[] {0xff000000, 0x80123456});
        assertImage(2, 1, new int[] {0xffffffff, 0x80edcba9}, ImageOps.invert(image));
    }

    /** One row of grey levels (every channel of a pixel equal, opaque). */
    private static ArgbImage greyRow(int... levels) {
        int[] pixels = new int[levels.length];
        for (int i = 0; i < levels.length; i++) {
            pixels[i] = 0xff000000 | levels[i] * 0x010101;
        }
        return new ArgbImage(levels.length, 1, pixels);
    }

    @Test
    void bilinearSamplesPixelCentresWithClampedEdges() {
        // 2 -> 4: samples at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
        assertArrayEquals(greyRow(0, 25, 75, 100).pixels(),
                ImageOps.resizeBilinear(greyRow(0, 100), 4, 1).pixels());
        // 4 -> 2: samples at 0.5 and 2.5, the means of neighbouring pairs
        assertArrayEquals(greyRow(20, 100).pixels(),
                ImageOps.resizeBilinear(greyRow(0, 40, 80, 120), 2, 1).pixels());
        // 3 -> 2: samples at 0.25 and 1.75
        assertArrayEquals(greyRow(25, 175).pixels(),
                ImageOps.resizeBilinear(greyRow(0, 100, 200), 2, 1).pixels());
        // 2x2 -> 4x4: pixel (1, 1) samples (0.25, 0.25): 9/16, 3/16, 3/16, 1/16 of the corners
        ArgbImage corners = new ArgbImage(2, 2, new int[] {0xff000000 | 160 << 16, 0xff000000,
                0xff000000, 0xff000000 | 16 << 16});
        ArgbImage big = ImageOps.resizeBilinear(corners, 4, 4);
        assertEquals(0xff000000 | 91 << 16, big.pixel(1, 1)); // 90 + 1
        assertSame(corners, ImageOps.resizeBilinear(corners, 2, 2));
    }

    /**
     * An independent reference in TF2's formulation (compute_interpolation_weights): lower =
     * max(floor(in), 0), upper = min(ceil(in), n - 1), weight in - floor(in).
     */
    private static double reference(ArgbImage image, int outW, int outH, int x, int y,
                                    int shift) {
        double inX = (x + 0.5) * image.width() / outW - 0.5;
        double inY = (y + 0.5) * image.height() / outH - 0.5;
        int x0 = Math.max((int) Math.floor(inX), 0);
        int x1 = Math.min((int) Math.ceil(inX), image.width() - 1);
        int y0 = Math.max((int) Math.floor(inY), 0);
        int y1 = Math.min((int) Math.ceil(inY), image.height() - 1);
        double wx = inX - Math.floor(inX);
        double wy = inY - Math.floor(inY);
        double top = level(image, x0, y0, shift) * (1 - wx) + level(image, x1, y0, shift) * wx;
        double bottom = level(image, x0, y1, shift) * (1 - wx) + level(image, x1, y1, shift) * wx;
        return top * (1 - wy) + bottom * wy;
    }

    private static int level(ArgbImage image, int x, int y, int shift) {
        return (image.pixel(x, y) >>> shift) & 0xff;
    }

    @Test
    void bilinearMatchesTheReferenceOnRandomImages() {
        Random random = new Random(17);
        int[][] sizes = {{7, 5, 3, 2}, {5, 7, 11, 13}, {40, 30, 28, 28}, {9, 9, 4, 6},
                {1, 1, 3, 2}};
        for (int[] s : sizes) {
            int[] pixels = new int[s[0] * s[1]];
            for (int i = 0; i < pixels.length; i++) {
                pixels[i] = random.nextInt();
            }
            ArgbImage image = new ArgbImage(s[0], s[1], pixels);
            ArgbImage out = ImageOps.resizeBilinear(image, s[2], s[3]);
            for (int y = 0; y < s[3]; y++) {
                for (int x = 0; x < s[2]; x++) {
                    for (int shift = 0; shift < 32; shift += 8) {
                        double expected = reference(image, s[2], s[3], x, y, shift);
                        int actual = level(out, x, y, shift);
                        assertTrue(Math.abs(actual - expected) <= 0.5 + 1e-9, "size "
                                + s[0] + "x" + s[1] + " -> " + s[2] + "x" + s[3] + " at (" + x
                                + ", " + y + ") shift " + shift + ": " + actual + " vs "
                                + expected);
                    }
                }
            }
        }
    }

    @Test
    void badImagesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new ArgbImage(2, 2, new int[3]));
        assertThrows(IllegalArgumentException.class, () -> new ArgbImage(0, 1, new int[0]));
        assertThrows(IllegalArgumentException.class, () -> ImageOps.resizeBilinear(ABCDEF, 0, 1));
    }
}
