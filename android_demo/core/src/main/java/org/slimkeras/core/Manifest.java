package org.slimkeras.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A parsed and validated manifest.json (schema version 1); see docs/manifest_schema.md.
 * Build one with {@link ManifestParser}.
 */
public final class Manifest {
    /** The only schema version this code reads. */
    public static final int SCHEMA_VERSION = 1;

    private final String modelName;
    private final ExportMode mode;
    private final double[] widthRange;
    private final List<Double> widthList;
    private final List<String> labels;
    private final String labelsFile;
    private final OutputKind outputKind;
    private final Preprocessing preprocessing;
    private final List<ModelEntry> models;

    /**
     * @param widthRange {@code [min, max]} for universal exports, else null
     * @param widthList the switch widths for other exports, else null
     * @param labelsFile path of the labels file inside the export folder, or null
     */
    public Manifest(String modelName, ExportMode mode, double[] widthRange, List<Double> widthList,
                    List<String> labels, String labelsFile, OutputKind outputKind,
                    Preprocessing preprocessing, List<ModelEntry> models) {
        this.modelName = modelName;
        this.mode = mode;
        this.widthRange = widthRange == null ? null : widthRange.clone();
        this.widthList = widthList == null ? null : Collections.unmodifiableList(widthList);
        this.labels = Collections.unmodifiableList(labels);
        this.labelsFile = labelsFile;
        this.outputKind = outputKind;
        this.preprocessing = preprocessing;
        this.models = Collections.unmodifiableList(models);
    }

    public String modelName() {
        return modelName;
    }

    public ExportMode mode() {
        return mode;
    }

    /** {@code [min, max]} width of a universal export, or null. */
    public double[] widthRange() {
        return widthRange == null ? null : widthRange.clone();
    }

    /** Switch widths of a non-universal export, or null. */
    public List<Double> widthList() {
        return widthList;
    }

    /** Class names, indexed like the model output. */
    public List<String> labels() {
        return labels;
    }

    /**
     * The labels file ({@code "labels_file"}: one label per line, in class order, for tools
     * that read labels beside the model), relative to the export folder; null if there is none.
     */
    public String labelsFile() {
        return labelsFile;
    }

    /** What every model outputs: probabilities or logits (the default of older exports). */
    public OutputKind outputKind() {
        return outputKind;
    }

    public Preprocessing preprocessing() {
        return preprocessing;
    }

    /** All models in manifest order. */
    public List<ModelEntry> models() {
        return models;
    }

    /** The precisions present, in order of first appearance. */
    public List<Precision> precisions() {
        List<Precision> precisions = new ArrayList<>();
        for (ModelEntry model : models) {
            if (!precisions.contains(model.precision())) {
                precisions.add(model.precision());
            }
        }
        return precisions;
    }

    /**
     * The uniform models of one precision, narrowest first: the candidates for a
     * {@link WidthSelector}.
     */
    public List<ModelEntry> uniformModels(Precision precision) {
        List<ModelEntry> result = new ArrayList<>();
        for (ModelEntry model : models) {
            if (model.isUniform() && model.precision() == precision) {
                result.add(model);
            }
        }
        return result;
    }
}
