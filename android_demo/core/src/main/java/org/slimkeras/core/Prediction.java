package org.slimkeras.core;

import java.util.ArrayList;
import java.util.List;

/**
 * One class of a classification result: label, index and score. The scores shown are
 * probabilities: {@link #probabilities} turns a model's output into them according to the
 * manifest's {@link OutputKind}.
 */
public final class Prediction {
    private final String label;
    private final int index;
    private final float score;

    public Prediction(String label, int index, float score) {
        this.label = label;
        this.index = index;
        this.score = score;
    }

    /**
     * The {@code k} most probable classes of one model output, best first, with probabilities
     * as scores (see {@link #probabilities}) and the manifest's labels.
     *
     * @param output the model's (dequantized) output, one value per label
     */
    public static List<Prediction> topK(float[] output, Manifest manifest, int k) {
        return topK(probabilities(output, manifest.outputKind()), manifest.labels(), k);
    }

    /**
     * Class probabilities from a model output: a softmax of logits, or probabilities as they
     * are.
     *
     * @return a new array, one value per class
     */
    public static float[] probabilities(float[] output, OutputKind kind) {
        if (kind == OutputKind.PROBABILITIES) {
            return output.clone();
        }
        return softmax(output);
    }

    /** {@code exp(x_i - max) / sum_j exp(x_j - max)}, summed in double precision. */
    static float[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double[] exp = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            exp[i] = Math.exp(logits[i] - max);
            sum += exp[i];
        }
        float[] probabilities = new float[logits.length];
        for (int i = 0; i < logits.length; i++) {
            probabilities[i] = (float) (exp[i] / sum);
        }
        return probabilities;
    }

    /**
     * The {@code k} highest scores, best first (the lower index first on a tie).
     *
     * @param labels one label per score
     */
    public static List<Prediction> topK(float[] scores, List<String> labels, int k) {
        if (scores.length != labels.size()) {
            throw new IllegalArgumentException(scores.length + " scores for " + labels.size()
                    + " labels");
        }
        boolean[] taken = new boolean[scores.length];
        List<Prediction> top = new ArrayList<>();
        for (int n = 0; n < Math.min(k, scores.length); n++) {
            int best = -1;
            for (int i = 0; i < scores.length; i++) {
                if (!taken[i] && (best < 0 || scores[i] > scores[best])) {
                    best = i;
                }
            }
            taken[best] = true;
            top.add(new Prediction(labels.get(best), best, scores[best]));
        }
        return top;
    }

    public String label() {
        return label;
    }

    public int index() {
        return index;
    }

    public float score() {
        return score;
    }

    @Override
    public String toString() {
        return label + " " + score;
    }
}
