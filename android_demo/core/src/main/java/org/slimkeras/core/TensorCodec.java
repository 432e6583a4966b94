package org.slimkeras.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Converts between float arrays and tensor buffers, quantizing int8/uint8 tensors. */
public final class TensorCodec {
    private TensorCodec() {
    }

    /**
     * Encodes {@code values} as a direct, native-order buffer for a tensor of type
     * {@code spec}: float32 as is; int8/uint8 as {@code round(x / scale) + zeroPoint}, clamped.
     */
    public static ByteBuffer encode(float[] values, TensorSpec spec) {
        if (values.length != spec.elementCount()) {
            throw new IllegalArgumentException("expected " + spec.elementCount()
                    + " values, got " + values.length);
        }
        ByteBuffer buffer = ByteBuffer.allocateDirect(spec.byteSize()).order(ByteOrder.nativeOrder());
        Quantization q = spec.quantization();
        for (float value : values) {
            switch (spec.dtype()) {
                case FLOAT32:
                    buffer.putFloat(value);
                    break;
                case INT8:
                    buffer.put((byte) quantize(value, q, -128, 127));
                    break;
                case UINT8:
                    buffer.put((byte) quantize(value, q, 0, 255));
                    break;
                default:
                    throw new IllegalStateException("unhandled dtype " + spec.dtype());
            }
        }
        buffer.rewind();
        return buffer;
    }

    /** Decodes a tensor buffer of type {@code spec} into floats, dequantizing if needed. */
    public static float[] decode(ByteBuffer buffer, TensorSpec spec) {
        ByteBuffer in = buffer.duplicate().order(buffer.order());
        in.rewind();
        float[] values = new float[spec.elementCount()];
        Quantization q = spec.quantization();
        for (int i = 0; i < values.length; i++) {
            switch (spec.dtype()) {
                case FLOAT32:
                    values[i] = in.getFloat();
                    break;
                case INT8:
                    values[i] = (float) (q.scale() * (in.get() - q.zeroPoint()));
                    break;
                case UINT8:
                    values[i] = (float) (q.scale() * ((in.get() & 0xff) - q.zeroPoint()));
                    break;
                default:
                    throw new IllegalStateException("unhandled dtype " + spec.dtype());
            }
        }
        return values;
    }

    private static int quantize(float value, Quantization q, int min, int max) {
        long level = Math.round(value / q.scale()) + q.zeroPoint();
        return (int) Math.max(min, Math.min(max, level));
    }
}
