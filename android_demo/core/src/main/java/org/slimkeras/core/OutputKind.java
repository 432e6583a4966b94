package org.slimkeras.core;

/** What a model's output holds ({@code "output_kind"} in manifest.json). */
public enum OutputKind {
    /** Class probabilities (the model ends in a softmax): shown as they are. */
    PROBABILITIES("probabilities"),
    /** Raw class scores: a softmax turns them into probabilities before they are shown. */
    LOGITS("logits");

    /** The kind of a manifest without {@code output_kind} (exports written before the key). */
    public static final OutputKind DEFAULT = LOGITS;

    private final String jsonName;

    OutputKind(String jsonName) {
        this.jsonName = jsonName;
    }

    /** The spelling used in manifest.json. */
    public String jsonName() {
        return jsonName;
    }

    /** The kind spelled {@code name} in manifest.json, or null if there is none. */
    public static OutputKind fromJsonName(String name) {
        for (OutputKind kind : values()) {
            if (kind.jsonName.equals(name)) {
                return kind;
            }
        }
        return null;
    }
}
