package org.slimkeras.core;

/** Affine int8/uint8 quantization of a tensor: {@code real = scale * (q - zeroPoint)}. */
public final class Quantization {
    private final double scale;
    private final int zeroPoint;

    /** @param scale the step between quantized values (> 0) */
    public Quantization(double scale, int zeroPoint) {
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    public double scale() {
        return scale;
    }

    public int zeroPoint() {
        return zeroPoint;
    }
}
