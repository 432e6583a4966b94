package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

class TensorCodecTest {
    private static TensorSpec spec(TensorSpec.DType dtype, Quantization q, int n) {
        return new TensorSpec(new int[] {1, n}, dtype, q);
    }

    @Test
    void int8QuantizesWithRoundingAndClamping() {
        TensorSpec int8 = spec(TensorSpec.DType.INT8, new Quantization(0.5, -10), 5);
        ByteBuffer buffer = TensorCodec.encode(new float[] {0f, 1.2f, -1.3f, 1000f, -1000f}, int8);
        byte[] bytes = new byte[5];
        buffer.get(bytes);
        // round(x / 0.5) - 10: 0 -> -10, 2.4 -> 2 -> -8, -2.6 -> -3 -> -13, clamped 127 / -128
        assertArrayEquals(new byte[] {-10, -8, -13, 127, -128}, bytes);
        assertArrayEquals(new float[] {0f, 1f, -1.5f, 68.5f, -59f},
                TensorCodec.decode(TensorCodec.encode(new float[] {0f, 1.2f, -1.3f, 1000f,
                        -1000f}, int8), int8));
    }

    @Test
    void uint8UsesTheUnsignedRange() {
        TensorSpec uint8 = spec(TensorSpec.DType.UINT8, new Quantization(1.0 / 255, 0), 3);
        ByteBuffer buffer = TensorCodec.encode(new float[] {0f, 1f, 2f}, uint8);
        assertEquals(0, buffer.get(0));
        assertEquals((byte) 255, buffer.get(1));
        assertEquals((byte) 255, buffer.get(2));
        assertEquals(1f, TensorCodec.decode(buffer, uint8)[1], 1e-6);
    }

    @Test
    void float32RoundTrips() {
        TensorSpec f32 = spec(TensorSpec.DType.FLOAT32, null, 3);
        float[] values = {0.25f, -3.5f, 1e-3f};
        ByteBuffer buffer = TensorCodec.encode(values, f32);
        assertEquals(12, buffer.capacity());
        assertArrayEquals(values, TensorCodec.decode(buffer, f32));
    }

    @Test
    void wrongLengthThrows() {
        assertThrows(IllegalArgumentException.class, () -> TensorCodec.encode(new float[2],
                spec(TensorSpec.DType.FLOAT32, null, 3)));
    }
}
