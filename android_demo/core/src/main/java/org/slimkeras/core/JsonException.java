package org.slimkeras.core;

/** Thrown by {@link Json#parse} for text that is not valid JSON. */
public final class JsonException extends Exception {
    private static final long serialVersionUID = 1L;

    JsonException(String message) {
        super(message);
    }
}
