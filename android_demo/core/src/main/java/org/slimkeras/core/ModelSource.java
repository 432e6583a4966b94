package org.slimkeras.core;

import java.io.IOException;
import java.io.InputStream;

/**
 * Read access to an export folder (manifest.json and .tflite files): Android assets in the
 * app, a directory in tests. Paths are relative, '/'-separated.
 */
public interface ModelSource {
    /** Whether a file exists at {@code path}. */
    boolean exists(String path);

    /** Opens the file at {@code path}; the caller closes the stream. */
    InputStream open(String path) throws IOException;
}
