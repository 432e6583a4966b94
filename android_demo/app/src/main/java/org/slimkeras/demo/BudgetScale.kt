package org.slimkeras.demo

import kotlin.math.ln
import kotlin.math.pow
import kotlin.math.roundToInt

/** Maps the budget slider (0..[STEPS]) logarithmically onto [MIN_MS]..[MAX_MS]. */
object BudgetScale {
    const val STEPS = 1000
    private const val MIN_MS = 0.05
    private const val MAX_MS = 50.0

    fun toMs(progress: Int): Double = MIN_MS * (MAX_MS / MIN_MS).pow(progress.toDouble() / STEPS)

    fun toProgress(ms: Double): Int =
        (STEPS * ln(ms / MIN_MS) / ln(MAX_MS / MIN_MS)).roundToInt().coerceIn(0, STEPS)
}
