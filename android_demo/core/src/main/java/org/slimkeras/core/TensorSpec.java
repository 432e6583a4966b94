package org.slimkeras.core;

/** Shape, element type and quantization of a model's input or output tensor. */
public final class TensorSpec {
    /** Element types the app can feed and read. */
    public enum DType {
        FLOAT32("float32", 4),
        INT8("int8", 1),
        UINT8("uint8", 1);

        private final String jsonName;
        private final int bytes;

        DType(String jsonName, int bytes) {
            this.jsonName = jsonName;
            this.bytes = bytes;
        }

        /** The spelling used in manifest.json. */
        public String jsonName() {
            return jsonName;
        }

        /** Size of one element in bytes. */
        public int bytes() {
            return bytes;
        }

        /** Whether tensors of this type need a {@link Quantization}. */
        public boolean isQuantized() {
            return this != FLOAT32;
        }

        /** The type spelled {@code name} in manifest.json, or null if there is none. */
        public static DType fromJsonName(String name) {
            for (DType type : values()) {
                if (type.jsonName.equals(name)) {
                    return type;
                }
            }
            return null;
        }
    }

    private final int[] shape;
    private final DType dtype;
    private final Quantization quantization;

    /** @param quantization null for float tensors */
    public TensorSpec(int[] shape, DType dtype, Quantization quantization) {
        this.shape = shape.clone();
        this.dtype = dtype;
        this.quantization = quantization;
    }

    /** The shape, e.g. {@code [1, 28, 28, 1]}. */
    public int[] shape() {
        return shape.clone();
    }

    public DType dtype() {
        return dtype;
    }

    /** The quantization parameters, or null for float tensors. */
    public Quantization quantization() {
        return quantization;
    }

    /** Number of elements (product of the shape). */
    public int elementCount() {
        int count = 1;
        for (int dim : shape) {
            count *= dim;
        }
        return count;
    }

    /** Size of the tensor in bytes. */
    public int byteSize() {
        return elementCount() * dtype.bytes();
    }

    /**
     * Checks a loaded model's tensor against this spec from the manifest (the app does this
     * for the interpreter's input and output tensors after loading each file).
     *
     * @param role "input" or "output", for the message
     * @throws IllegalStateException naming the role and both values if the shape or the
     *     element type differs
     */
    public void checkLoaded(String role, int[] loadedShape, DType loadedType) {
        if (!java.util.Arrays.equals(loadedShape, shape)) {
            throw new IllegalStateException(role + " shape " + java.util.Arrays.toString(loadedShape)
                    + " differs from the manifest's " + java.util.Arrays.toString(shape));
        }
        if (loadedType != dtype) {
            throw new IllegalStateException(role + " type " + loadedType
                    + " differs from the manifest's " + dtype);
        }
    }
}
