package org.slimkeras.core;

/** A manifest.json that cannot be used, with the {@link Kind} of problem. */
public final class ManifestException extends Exception {
    private static final long serialVersionUID = 1L;

    /** What is wrong with the manifest. */
    public enum Kind {
        /** {@code schema_version} is not {@value Manifest#SCHEMA_VERSION}. */
        UNSUPPORTED_VERSION,
        /** A required field is absent. */
        MISSING_FIELD,
        /** manifest.json or a model file does not exist. */
        MISSING_FILE,
        /** A model file's SHA-256 differs from the manifest. */
        SHA256_MISMATCH,
        /** Uniform models of one precision are not in strictly increasing width. */
        WIDTHS_OUT_OF_ORDER,
        /** {@code models} is empty. */
        EMPTY_MODEL_LIST,
        /** The file is not JSON, or its top level is not an object. */
        MALFORMED_JSON,
        /** A field has the wrong type or an impossible value. */
        BAD_VALUE
    }

    private final Kind kind;

    public ManifestException(Kind kind, String message) {
        super(kind + ": " + message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
