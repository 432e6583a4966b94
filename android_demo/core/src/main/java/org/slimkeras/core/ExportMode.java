package org.slimkeras.core;

/** How the exported widths were trained ({@code "mode"} in manifest.json). */
public enum ExportMode {
    /** One universally slimmable network; any width in {@code width_range}. */
    UNIVERSAL("universal"),
    /** One slimmable network with a fixed list of switches ({@code width_list}). */
    SLIMMABLE("slimmable"),
    /** One network trained at full width, sliced without retraining. */
    NAIVE("naive"),
    /** Separately trained networks, one per width. */
    INDIVIDUAL("individual");

    private final String jsonName;

    ExportMode(String jsonName) {
        this.jsonName = jsonName;
    }

    /** The spelling used in manifest.json. */
    public String jsonName() {
        return jsonName;
    }

    /** The mode spelled {@code name} in manifest.json, or null if there is none. */
    public static ExportMode fromJsonName(String name) {
        for (ExportMode mode : values()) {
            if (mode.jsonName.equals(name)) {
                return mode;
            }
        }
        return null;
    }
}
