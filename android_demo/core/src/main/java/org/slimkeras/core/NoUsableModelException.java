package org.slimkeras.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Thrown by {@link WidthSelector#pick()} when every model has been marked as failed, and by
 * {@link ClassifierSession#open} with the failure of each model.
 */
public final class NoUsableModelException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    private final Map<String, Exception> failures;

    public NoUsableModelException(String message) {
        this(message, Collections.<String, Exception>emptyMap());
    }

    /** @param failures model id → why it failed to load or run, in order of failure */
    public NoUsableModelException(String message, Map<String, Exception> failures) {
        super(message);
        this.failures = Collections.unmodifiableMap(new LinkedHashMap<>(failures));
    }

    /** Model id → why it failed, in order of failure (empty if unknown). */
    public Map<String, Exception> failures() {
        return failures;
    }
}
