package org.slimkeras.core;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

/**
 * Command-line entry to the core for desktop checks of real exports and traces.
 *
 * <pre>
 * java -cp build/main org.slimkeras.core.CoreTool manifest EXPORT_DIR
 * java -cp build/main org.slimkeras.core.CoreTool trace TRACE.json
 * java -cp build/main org.slimkeras.core.CoreTool scores EXPORT_DIR MODEL_ID OUTPUT.bin
 * java -cp build/main org.slimkeras.core.CoreTool pixels EXPORT_DIR IMAGE.rgba WIDTH
 * </pre>
 *
 * {@code manifest} validates an export directory exactly as the app does and prints one line
 * per model ({@code id width precision bytes}); on a bad manifest it prints
 * {@code INVALID KIND: message} and exits 1. {@code trace} replays a latency trace through
 * {@link TraceRunner} and prints the picked width of every step, one per line. {@code scores}
 * validates the export, decodes a raw output tensor of model {@code MODEL_ID} (its bytes in
 * little-endian order, as numpy's {@code tobytes()} writes them on x86 and ARM) as the app
 * does, and prints the scores the app would show for every class, best first, one
 * {@code probability index label} line each. {@code pixels} turns an image (RGBA bytes, row
 * by row, {@code WIDTH} pixels a row, as a browser canvas holds them) into model input as the
 * app does ({@link FrameConverter#toModelPixels} at rotation 0, then
 * {@link Preprocessor#normalize}) and prints the floats, one per line.
 */
public final class CoreTool {
    private CoreTool() {}

    public static void main(String[] args) throws IOException {
        boolean scores = args.length == 4 && args[0].equals("scores");
        boolean pixels = args.length == 4 && args[0].equals("pixels");
        if (!scores && !pixels && (args.length != 2
                || !(args[0].equals("manifest") || args[0].equals("trace")))) {
            System.err.println("usage: CoreTool manifest EXPORT_DIR | CoreTool trace TRACE.json"
                    + " | CoreTool scores EXPORT_DIR MODEL_ID OUTPUT.bin"
                    + " | CoreTool pixels EXPORT_DIR IMAGE.rgba WIDTH");
            System.exit(2);
        }
        if (pixels) {
            System.exit(showPixels(new File(args[1]), new File(args[2]), Integer.parseInt(args[3])));
        }
        if (scores) {
            System.exit(showScores(new File(args[1]), args[2], new File(args[3])));
        }
        if (args[0].equals("manifest")) {
            System.exit(checkManifest(new File(args[1])));
        }
        System.exit(replayTrace(new File(args[1])));
    }

    private static int checkManifest(File directory) throws IOException {
        Manifest manifest = parseOrReport(directory);
        if (manifest == null) {
            return 1;
        }
        System.out.println("OK " + manifest.modelName() + " " + manifest.models().size() + " models");
        for (ModelEntry model : manifest.models()) {
            System.out.println(model.id() + " " + model.width() + " "
                    + model.precision().name().toLowerCase(java.util.Locale.ROOT) + " " + model.bytes());
        }
        return 0;
    }

    /** The export's manifest, validated as the app does; null after printing why it is invalid. */
    private static Manifest parseOrReport(File directory) throws IOException {
        try {
            return new ManifestParser(new DirectoryModelSource(directory)).parse();
        } catch (ManifestException e) {
            System.out.println("INVALID " + e.kind() + ": " + e.getMessage());
            return null;
        }
    }

    private static int showScores(File directory, String modelId, File output)
            throws IOException {
        Manifest manifest = parseOrReport(directory);
        if (manifest == null) {
            return 1;
        }
        for (ModelEntry model : manifest.models()) {
            if (model.id().equals(modelId)) {
                ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(output.toPath()))
                        .order(ByteOrder.LITTLE_ENDIAN);
                if (raw.capacity() != model.output().byteSize()) {
                    System.out.println("INVALID output: " + output + " has " + raw.capacity()
                            + " bytes, model " + modelId + " outputs "
                            + model.output().byteSize());
                    return 1;
                }
                float[] scores = TensorCodec.decode(raw, model.output());
                for (Prediction p : Prediction.topK(scores, manifest, scores.length)) {
                    System.out.println(p.score() + " " + p.index() + " " + p.label());
                }
                return 0;
            }
        }
        System.out.println("INVALID model id: " + modelId + " is not in the manifest");
        return 1;
    }

    private static int showPixels(File directory, File image, int width) throws IOException {
        Manifest manifest = parseOrReport(directory);
        if (manifest == null) {
            return 1;
        }
        byte[] rgba = Files.readAllBytes(image.toPath());
        int[] argb = new int[rgba.length / 4];
        for (int i = 0; i < argb.length; i++) {
            argb[i] = (rgba[4 * i + 3] & 0xff) << 24 | (rgba[4 * i] & 0xff) << 16
                    | (rgba[4 * i + 1] & 0xff) << 8 | (rgba[4 * i + 2] & 0xff);
        }
        ArgbImage frame = new ArgbImage(width, argb.length / width, argb);
        Preprocessing p = manifest.preprocessing();
        StringBuilder out = new StringBuilder();
        for (float value : Preprocessor.normalize(FrameConverter.toModelPixels(frame, 0, p, false), p)) {
            out.append(value).append('\n');
        }
        System.out.print(out);
        return 0;
    }

    private static int replayTrace(File file) throws IOException {
        String json = new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8);
        try {
            List<Double> picks = TraceRunner.run(Trace.parse(json));
            for (double width : picks) {
                System.out.println(width);
            }
            return 0;
        } catch (JsonException e) {
            System.out.println("INVALID trace: " + e.getMessage());
            return 1;
        }
    }
}
