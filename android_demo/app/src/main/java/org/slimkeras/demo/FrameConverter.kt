package org.slimkeras.demo

import android.graphics.Bitmap
import android.graphics.Matrix
import androidx.camera.core.ImageProxy
import kotlin.math.min

/** Turns a camera frame into the model's input pixels. */
object FrameConverter {
    /**
     * Centre-crops a square, rotates it upright, scales it to [width]×[height] and returns its
     * ARGB pixels row by row, with colours inverted when [invert] is set (Fashion-MNIST shows
     * light clothes on a black background).
     */
    fun toPixels(image: ImageProxy, width: Int, height: Int, invert: Boolean): IntArray {
        val frame = image.toBitmap()
        val side = min(frame.width, frame.height)
        val rotation = Matrix().apply { postRotate(image.imageInfo.rotationDegrees.toFloat()) }
        val square = Bitmap.createBitmap(
            frame, (frame.width - side) / 2, (frame.height - side) / 2, side, side, rotation, false)
        val scaled = Bitmap.createScaledBitmap(square, width, height, true)
        val pixels = IntArray(width * height)
        scaled.getPixels(pixels, 0, width, 0, 0, width, height)
        if (invert) {
            for (i in pixels.indices) {
                pixels[i] = pixels[i] xor 0x00FFFFFF
            }
        }
        return pixels
    }
}
