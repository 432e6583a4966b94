package org.slimkeras.demo

import android.Manifest.permission.CAMERA
import android.content.pm.PackageManager
import android.os.Bundle
import android.util.Log
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.CheckBox
import android.widget.SeekBar
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import org.slimkeras.core.BudgetScale
import org.slimkeras.core.ClassifierSession
import org.slimkeras.core.Manifest
import org.slimkeras.core.ManifestException
import org.slimkeras.core.ManifestParser
import org.slimkeras.core.NoUsableModelException
import org.slimkeras.core.Precision
import org.slimkeras.core.SelectorConfig
import java.io.IOException
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Classifies camera frames with the widest exported width whose measured latency fits the
 * budget. Reads manifest.json and the models from assets; the core's [ClassifierSession] keeps
 * every width of the chosen precision loaded, benchmarks them at start-up, runs each frame
 * through the app's chain and switches width as the budget slider or the measured latency
 * changes. This class only binds it to the camera, the widgets and LiteRT.
 *
 * Threads: one worker thread builds sessions and analyses frames (so they never overlap and the
 * GPU delegate stays on its thread); the UI thread only changes the budget.
 */
class MainActivity : ComponentActivity() {

    /** What a session is built from; changing any of it rebuilds the session. */
    private data class Settings(
        val precision: Precision,
        val accelerator: LiteRtEngine.Accelerator,
        val threads: Int,
    )

    private val worker: ExecutorService = Executors.newSingleThreadExecutor()

    @Volatile private var manifest: Manifest? = null
    @Volatile private var session: ClassifierSession? = null
    @Volatile private var budgetMs = DEFAULT_BUDGET_MS
    @Volatile private var invert = false
    private var requestedSettings: Settings? = null

    private lateinit var previewView: PreviewView
    private lateinit var statusText: TextView
    private lateinit var predictionsText: TextView
    private lateinit var budgetLabel: TextView
    private lateinit var failuresText: TextView
    private lateinit var precisionSpinner: Spinner
    private lateinit var acceleratorSpinner: Spinner
    private lateinit var threadsSpinner: Spinner

    private val cameraPermission =
        registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
            if (granted) startCamera() else statusText.setText(R.string.camera_denied)
        }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        previewView = findViewById(R.id.preview)
        statusText = findViewById(R.id.status)
        predictionsText = findViewById(R.id.predictions)
        budgetLabel = findViewById(R.id.budget_label)
        failuresText = findViewById(R.id.failures)
        precisionSpinner = findViewById(R.id.precision)
        acceleratorSpinner = findViewById(R.id.delegate)
        threadsSpinner = findViewById(R.id.threads)
        findViewById<CheckBox>(R.id.invert).setOnCheckedChangeListener { _, checked ->
            invert = checked
        }
        setUpBudgetSlider(findViewById(R.id.budget))
        worker.execute { loadManifest() }

        if (ContextCompat.checkSelfPermission(this, CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            cameraPermission.launch(CAMERA)
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        worker.execute { closeSession() }
        worker.shutdown()
    }

    // --- budget -------------------------------------------------------------------------

    private fun setUpBudgetSlider(slider: SeekBar) {
        slider.max = BudgetScale.STEPS
        slider.progress = BudgetScale.toProgress(budgetMs)
        showBudget()
        slider.setOnSeekBarChangeListener(object : SeekBar.OnSeekBarChangeListener {
            override fun onProgressChanged(bar: SeekBar, progress: Int, fromUser: Boolean) {
                if (!fromUser) return
                budgetMs = BudgetScale.toMs(progress)
                showBudget()
                session?.setBudget(budgetMs) // re-picks at once
            }

            override fun onStartTrackingTouch(bar: SeekBar) = Unit
            override fun onStopTrackingTouch(bar: SeekBar) = Unit
        })
    }

    private fun showBudget() {
        budgetLabel.text = getString(R.string.budget, budgetMs)
    }

    // --- manifest and sessions ------------------------------------------------------------

    /** Worker thread: parses and verifies manifest.json, then offers its precisions. */
    private fun loadManifest() {
        try {
            val loaded = ManifestParser(AssetModelSource(assets)).parse()
            manifest = loaded
            runOnUiThread { setUpSettingSpinners(loaded) }
        } catch (e: ManifestException) {
            showProblem("manifest.json: ${e.message}")
        } catch (e: IOException) {
            showProblem("cannot read the models: ${e.message}")
        }
    }

    private fun setUpSettingSpinners(manifest: Manifest) {
        val precisions = manifest.precisions().filter { manifest.uniformModels(it).isNotEmpty() }
        precisionSpinner.adapter = adapterOf(precisions.map { it.jsonName() })
        precisionSpinner.setSelection(precisions.indexOf(Precision.INT8).coerceAtLeast(0))
        acceleratorSpinner.adapter = adapterOf(LiteRtEngine.Accelerator.values().map { it.name })
        threadsSpinner.adapter = adapterOf(THREAD_CHOICES.map { "$it threads" })
        threadsSpinner.setSelection(THREAD_CHOICES.indexOf(DEFAULT_THREADS))

        val onChange = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>, view: View?, pos: Int, id: Long) {
                requestSession(Settings(
                    precisions[precisionSpinner.selectedItemPosition],
                    LiteRtEngine.Accelerator.values()[acceleratorSpinner.selectedItemPosition],
                    THREAD_CHOICES[threadsSpinner.selectedItemPosition]))
            }

            override fun onNothingSelected(parent: AdapterView<*>) = Unit
        }
        listOf(precisionSpinner, acceleratorSpinner, threadsSpinner).forEach {
            it.onItemSelectedListener = onChange
        }
    }

    private fun adapterOf(items: List<String>) =
        ArrayAdapter(this, android.R.layout.simple_spinner_item, items).apply {
            setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item)
        }

    /** UI thread: rebuilds the session on the worker unless these settings are already set. */
    private fun requestSession(settings: Settings) {
        if (settings == requestedSettings) return
        requestedSettings = settings
        val count = manifest?.uniformModels(settings.precision)?.size ?: 0
        statusText.text = getString(R.string.benchmarking, count,
            settings.accelerator.name, settings.threads)
        predictionsText.text = ""
        worker.execute { openSession(settings) }
    }

    /** Worker thread: the core loads and benchmarks every width of [settings], then picks one. */
    private fun openSession(settings: Settings) {
        closeSession()
        val loaded = manifest ?: return
        val engine = LiteRtEngine(assets, settings.accelerator, settings.threads)
        val opened = try {
            ClassifierSession.open(loaded, settings.precision, engine, { budgetMs },
                SelectorConfig.defaults(), BENCHMARK_RUNS, TOP_K)
        } catch (e: NoUsableModelException) {
            showFailures(e.failures())
            return
        }
        session = opened
        showFailures(opened.failures())
    }

    private fun closeSession() {
        session?.close()
        session = null
    }

    // --- camera -----------------------------------------------------------------------------

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val preview = Preview.Builder().build().also {
                it.setSurfaceProvider(previewView.surfaceProvider)
            }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
                .also { it.setAnalyzer(worker, ::analyze) }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    /** Worker thread: the core classifies one frame with the current width; shows the outcome. */
    private fun analyze(image: ImageProxy) {
        image.use {
            val current = session ?: return
            val frame = try {
                current.classifyFrame(CameraFrames.argbImage(image), image.imageInfo.rotationDegrees, invert)
            } catch (e: NoUsableModelException) {
                showFailures(current.failures())
                return
            }
            if (frame == null) { // the run threw: the core marked the width failed and re-picked
                Log.w(TAG, "inference failed; the selector switched width")
                showFailures(current.failures())
                return
            }
            runOnUiThread { showFrame(frame) }
        }
    }

    // --- display ----------------------------------------------------------------------------

    private fun showFrame(frame: ClassifierSession.Frame) {
        val model = frame.model()
        val top1 = if (model.top1().isNaN()) "n/a" else "%.1f %%".format(Locale.ROOT, 100 * model.top1())
        statusText.text = getString(R.string.status, model.width(), model.precision().jsonName(),
            model.macs() / 1e6, top1, frame.latencyMs(), frame.p90Ms())
        predictionsText.text = frame.top().joinToString("\n") {
            "%-12s %5.1f %%".format(Locale.ROOT, it.label(), 100 * it.score())
        }
    }

    private fun showFailures(failures: Map<String, Exception>) = runOnUiThread {
        failuresText.text = if (failures.isEmpty()) "" else getString(R.string.failures,
            failures.entries.joinToString("; ") { "${it.key}: ${it.value.message}" })
    }

    private fun showProblem(message: String) = runOnUiThread {
        Log.e(TAG, message)
        statusText.text = message
    }

    private companion object {
        const val TAG = "SlimDemo"
        const val DEFAULT_BUDGET_MS = 1.0
        const val BENCHMARK_RUNS = 8 // the first 3 are discarded as warm-up by the tracker
        const val TOP_K = 3
        const val DEFAULT_THREADS = 2
        val THREAD_CHOICES = listOf(1, 2, 4)
    }
}
