package org.slimkeras.demo

import android.content.res.AssetManager
import android.os.SystemClock
import org.slimkeras.core.InferenceEngine
import org.slimkeras.core.InferenceResult
import org.slimkeras.core.ModelEntry
import org.slimkeras.core.TensorCodec
import org.slimkeras.core.TensorSpec
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * [InferenceEngine] on LiteRT's Interpreter. Every model gets its own interpreter (and
 * delegate instance) that stays loaded, so switching width costs nothing. The measured
 * latency covers `Interpreter.run` only. Use one thread for load, run and close: the GPU
 * delegate is bound to the thread that created it.
 */
class LiteRtEngine(
    private val assets: AssetManager,
    private val accelerator: Accelerator,
    private val threads: Int,
) : InferenceEngine {

    /** Where the interpreter runs the model. */
    enum class Accelerator { CPU, GPU, NNAPI }

    private class LoadedModel(
        val interpreter: Interpreter,
        val delegate: Delegate?,
        val output: ByteBuffer,
    ) {
        fun close() {
            interpreter.close()
            (delegate as? AutoCloseable)?.close()
        }
    }

    private val loaded = HashMap<String, LoadedModel>()

    override fun load(model: ModelEntry) {
        val delegate = createDelegate()
        val options = Interpreter.Options().setNumThreads(threads)
        delegate?.let { options.addDelegate(it) }
        val interpreter = try {
            Interpreter(mapAsset(model.path()), options)
        } catch (e: Exception) {
            (delegate as? AutoCloseable)?.close()
            throw e
        }
        try {
            model.input().checkLoaded("input", interpreter.getInputTensor(0).shape(),
                dtypeOf(interpreter.getInputTensor(0).dataType()))
            model.output().checkLoaded("output", interpreter.getOutputTensor(0).shape(),
                dtypeOf(interpreter.getOutputTensor(0).dataType()))
        } catch (e: IllegalStateException) {
            interpreter.close()
            (delegate as? AutoCloseable)?.close()
            throw e
        }
        val output = ByteBuffer.allocateDirect(model.output().byteSize()).order(ByteOrder.nativeOrder())
        loaded.put(model.id(), LoadedModel(interpreter, delegate, output))?.close()
    }

    override fun run(model: ModelEntry, input: FloatArray): InferenceResult {
        val entry = loaded[model.id()] ?: throw IllegalStateException("${model.id()} is not loaded")
        val inputBuffer = TensorCodec.encode(input, model.input())
        entry.output.rewind()
        val start = SystemClock.elapsedRealtimeNanos()
        entry.interpreter.run(inputBuffer, entry.output)
        val latencyMs = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        return InferenceResult(TensorCodec.decode(entry.output, model.output()), latencyMs)
    }

    override fun close() {
        loaded.values.forEach { it.close() }
        loaded.clear()
    }

    private fun createDelegate(): Delegate? = when (accelerator) {
        Accelerator.CPU -> null
        Accelerator.NNAPI -> NnApiDelegate()
        Accelerator.GPU -> {
            val compatibility = CompatibilityList()
            check(compatibility.isDelegateSupportedOnThisDevice) {
                "the GPU delegate is not supported on this device"
            }
            GpuDelegate(compatibility.bestOptionsForThisDevice)
        }
    }

    /** Memory-maps an uncompressed asset (see noCompress in build.gradle.kts). */
    private fun mapAsset(path: String): MappedByteBuffer =
        assets.openFd(path).use { descriptor ->
            FileInputStream(descriptor.fileDescriptor).channel.use { channel ->
                channel.map(FileChannel.MapMode.READ_ONLY, descriptor.startOffset,
                    descriptor.declaredLength)
            }
        }

    /** LiteRT's element type as the core names it (the core checks it against the manifest). */
    private fun dtypeOf(type: DataType): TensorSpec.DType? = when (type) {
        DataType.FLOAT32 -> TensorSpec.DType.FLOAT32
        DataType.INT8 -> TensorSpec.DType.INT8
        DataType.UINT8 -> TensorSpec.DType.UINT8
        else -> null
    }
}
