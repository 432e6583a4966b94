package org.slimkeras.demo

import android.content.res.AssetManager
import org.slimkeras.core.ModelSource
import java.io.IOException
import java.io.InputStream

/** Reads an export folder (manifest.json + .tflite files) copied into the APK's assets. */
class AssetModelSource(private val assets: AssetManager) : ModelSource {
    override fun exists(path: String): Boolean =
        try {
            assets.open(path).close()
            true
        } catch (e: IOException) {
            false
        }

    override fun open(path: String): InputStream = assets.open(path)
}
