package org.slimkeras.core;

import java.util.ArrayList;
import java.util.List;

/** One class of a classification result: label, index and score. */
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
