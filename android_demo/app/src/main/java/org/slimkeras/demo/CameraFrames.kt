package org.slimkeras.demo

import androidx.camera.core.ImageProxy
import org.slimkeras.core.ArgbImage

/** Binds CameraX to the core: a camera frame's pixels as an [ArgbImage] (before rotation). */
object CameraFrames {
    fun argbImage(image: ImageProxy): ArgbImage {
        val bitmap = image.toBitmap()
        val pixels = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        return ArgbImage(bitmap.width, bitmap.height, pixels)
    }
}
