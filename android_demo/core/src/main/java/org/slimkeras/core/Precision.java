package org.slimkeras.core;

/** Numeric precision of an exported model ({@code "precision"} in manifest.json). */
public enum Precision {
    FP32("fp32"),
    FP16("fp16"),
    INT8("int8");

    private final String jsonName;

    Precision(String jsonName) {
        this.jsonName = jsonName;
    }

    /** The spelling used in manifest.json. */
    public String jsonName() {
        return jsonName;
    }

    /** The precision spelled {@code name} in manifest.json, or null if there is none. */
    public static Precision fromJsonName(String name) {
        for (Precision precision : values()) {
            if (precision.jsonName.equals(name)) {
                return precision;
            }
        }
        return null;
    }
}
