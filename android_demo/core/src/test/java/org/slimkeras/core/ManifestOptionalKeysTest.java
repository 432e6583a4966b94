package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slimkeras.core.ManifestException.Kind;

/** The optional keys of schema version 1: output_kind, labels_file, preprocessing resize/crop. */
class ManifestOptionalKeysTest {
    @TempDir
    File dir;

    private Manifest parse(Map<String, Object> manifest) throws Exception {
        TestManifests.write(dir, manifest);
        return new ManifestParser(new DirectoryModelSource(dir)).parse();
    }

    private String parseFails(Map<String, Object> manifest, Kind kind) {
        ManifestException e = assertThrows(ManifestException.class, () -> parse(manifest));
        assertEquals(kind, e.kind(), e.getMessage());
        return e.getMessage();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> preprocessing(Map<String, Object> manifest) {
        return (Map<String, Object>) manifest.get("preprocessing");
    }

    @Test
    void olderExportsWithoutTheKeysOutputLogitsAndHaveNoLabelsFile() throws Exception {
        Manifest manifest = parse(TestManifests.valid());
        assertEquals(OutputKind.LOGITS, manifest.outputKind());
        assertNull(manifest.labelsFile());
        assertEquals(0, manifest.preprocessing().resize());
        assertEquals(0, manifest.preprocessing().crop());
    }

    @Test
    void readsOutputKindAndLabelsFile() throws Exception {
        Manifest manifest = parse(TestManifests.withOutputKind("probabilities"));
        assertEquals(OutputKind.PROBABILITIES, manifest.outputKind());
        assertEquals("labels.txt", manifest.labelsFile());
        assertEquals(OutputKind.LOGITS, parse(TestManifests.withOutputKind("logits")).outputKind());
    }

    @Test
    void unknownOutputKindIsABadValue() {
        for (Object kind : new Object[] {"softmax", "Probabilities", null, 1}) {
            Map<String, Object> m = TestManifests.valid();
            m.put("output_kind", kind);
            String message = parseFails(m, Kind.BAD_VALUE);
            assertTrue(message.contains("output_kind") && message.contains("probabilities"),
                    message);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"/abs/labels.txt", "../labels.txt", "a/../../labels.txt",
            "sub\\labels.txt", ""})
    void labelsFileFollowsThePathRulesOfModels(String path) {
        Map<String, Object> m = TestManifests.withOutputKind("probabilities");
        m.put("labels_file", path);
        assertTrue(parseFails(m, Kind.BAD_VALUE).contains("labels_file"));
        // The model path rule rejects the same path.
        Map<String, Object> m2 = TestManifests.valid();
        TestManifests.model(m2, 0).put("path", path);
        assertTrue(parseFails(m2, Kind.BAD_VALUE).contains("path"));
    }

    @Test
    void aLabelsFileInASubfolderIsAccepted() throws Exception {
        Map<String, Object> m = TestManifests.withOutputKind("probabilities");
        m.put("labels_file", "meta/labels.txt");
        TestManifests.write(dir, m);
        assertTrue(new File(dir, "meta").mkdir());
        TestManifests.writeFile(new File(dir, "meta/labels.txt"),
                String.join("\r\n", TestManifests.LABELS).getBytes(StandardCharsets.UTF_8));
        Manifest manifest = new ManifestParser(new DirectoryModelSource(dir)).parse();
        assertEquals("meta/labels.txt", manifest.labelsFile());
    }

    @Test
    void aMissingLabelsFileIsAMissingFile() throws Exception {
        TestManifests.write(dir, TestManifests.withOutputKind("probabilities"));
        assertTrue(new File(dir, "labels.txt").delete());
        ManifestException e = assertThrows(ManifestException.class,
                () -> new ManifestParser(new DirectoryModelSource(dir)).parse());
        assertEquals(Kind.MISSING_FILE, e.kind());
        assertTrue(e.getMessage().contains("labels.txt"), e.getMessage());
    }

    @Test
    void aLabelsFileWithAnotherLineCountIsABadValue() throws Exception {
        for (String content : new String[] {"a\nb\n", "", String.join("\n", TestManifests.LABELS)
                + "\nextra\n", String.join("\n", TestManifests.LABELS) + "\n\n"}) {
            TestManifests.write(dir, TestManifests.withOutputKind("probabilities"));
            TestManifests.writeFile(new File(dir, "labels.txt"),
                    content.getBytes(StandardCharsets.UTF_8));
            ManifestException e = assertThrows(ManifestException.class,
                    () -> new ManifestParser(new DirectoryModelSource(dir)).parse());
            assertEquals(Kind.BAD_VALUE, e.kind());
            assertTrue(e.getMessage().contains("10 labels"), e.getMessage());
        }
    }

    @Test
    void countLinesIgnoresOnlyAFinalLineBreak() {
        assertEquals(0, ManifestParser.countLines(""));
        assertEquals(1, ManifestParser.countLines("a"));
        assertEquals(1, ManifestParser.countLines("a\n"));
        assertEquals(2, ManifestParser.countLines("a\r\nb\r\n"));
        assertEquals(3, ManifestParser.countLines("a\n\nb"));
    }

    @Test
    void readsImageNetResizeAndCrop() throws Exception {
        Map<String, Object> m = TestManifests.valid();
        preprocessing(m).put("resize", 32);
        preprocessing(m).put("crop", 28);
        Preprocessing p = parse(m).preprocessing();
        assertEquals(32, p.resize());
        assertEquals(28, p.crop());
        preprocessing(m).remove("crop");
        assertEquals(0, parse(m).preprocessing().crop());
    }

    @Test
    void badResizeAndCropAreBadValues() {
        Object[][] cases = {
                {27, null}, {0, null}, {28.5, null}, {"32", null}, // resize < height, not an int
                {32, 0}, {32, 33}, {32, 2.5}, {null, 28}};        // crop outside [1, resize]
        for (Object[] c : cases) {
            Map<String, Object> m = TestManifests.valid();
            if (c[0] != null) {
                preprocessing(m).put("resize", c[0]);
            }
            if (c[1] != null) {
                preprocessing(m).put("crop", c[1]);
            }
            String message = parseFails(m, Kind.BAD_VALUE);
            assertTrue(message.contains(c[1] == null ? "resize" : "crop"), message);
        }
    }
}
