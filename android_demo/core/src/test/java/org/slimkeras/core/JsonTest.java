package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class JsonTest {
    @Test
    void parsesEveryValueType() throws JsonException {
        Object value = Json.parse(" {\"a\": [1, -2.5e1, 0.125], \"b\": {\"c\": null},"
                + " \"t\": true, \"f\": false, \"s\": \"x\"} ");
        Map<?, ?> map = (Map<?, ?>) value;
        assertEquals(Arrays.asList(1.0, -25.0, 0.125), map.get("a"));
        assertTrue(((Map<?, ?>) map.get("b")).containsKey("c"));
        assertNull(((Map<?, ?>) map.get("b")).get("c"));
        assertEquals(Boolean.TRUE, map.get("t"));
        assertEquals(Boolean.FALSE, map.get("f"));
        assertEquals("x", map.get("s"));
        assertEquals(Arrays.asList("a", "b", "t", "f", "s"), Arrays.asList(map.keySet().toArray()));
    }

    @Test
    void decodesEscapes() throws JsonException {
        assertEquals("q\"b\\s/\b\f\n\r\t\u00e9\u20ac",
                Json.parse("\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\""));
    }

    @Test
    void parsesEmptyContainersAndTopLevelScalars() throws JsonException {
        assertTrue(((Map<?, ?>) Json.parse("{}")).isEmpty());
        assertTrue(((List<?>) Json.parse("[ ]")).isEmpty());
        assertEquals(0.0, Json.parse("0"));
        assertNull(Json.parse("null"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "01", "1.", ".5",
            "-", "1e", "tru", "\"abc", "\"a\nb\"", "\"\\x\"", "\"\\u12\"", "{} x", "{'a': 1}",
            "{\"a\": 1, \"a\": 2}", "NaN", "[1]]"})
    void rejectsInvalidJson(String text) {
        assertThrows(JsonException.class, () -> Json.parse(text));
    }

    @Test
    void reportsWhereTheErrorIs() {
        JsonException e = assertThrows(JsonException.class, () -> Json.parse("{\n  \"a\": tru\n}"));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }

    @Test
    void rejectsExcessiveNesting() {
        StringBuilder deep = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            deep.append('[');
        }
        assertThrows(JsonException.class, () -> Json.parse(deep.toString()));
    }
}
