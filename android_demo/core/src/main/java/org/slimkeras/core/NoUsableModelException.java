package org.slimkeras.core;

/** Thrown by {@link WidthSelector#pick()} when every model has been marked as failed. */
public final class NoUsableModelException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public NoUsableModelException(String message) {
        super(message);
    }
}
