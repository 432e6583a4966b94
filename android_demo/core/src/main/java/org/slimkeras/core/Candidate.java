package org.slimkeras.core;

/**
 * A model that {@link WidthSelector} can choose: its width multiplier and top-1 accuracy.
 * Selectors compare candidates by identity.
 */
public interface Candidate {
    /** Width multiplier, e.g. 0.25 … 1.0. */
    double width();

    /** Top-1 accuracy in [0, 1], or NaN if unknown. */
    double top1();
}
