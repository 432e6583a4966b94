package org.slimkeras.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/** A {@link ModelSource} backed by a directory (tests, desktop tools). */
public final class DirectoryModelSource implements ModelSource {
    private final File root;

    public DirectoryModelSource(File root) {
        this.root = root;
    }

    @Override
    public boolean exists(String path) {
        return resolve(path).isFile();
    }

    @Override
    public InputStream open(String path) throws IOException {
        return new FileInputStream(resolve(path));
    }

    private File resolve(String path) {
        return new File(root, path.replace('/', File.separatorChar));
    }
}
