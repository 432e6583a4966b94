package org.slimkeras.core;

import java.util.List;
import java.util.Map;

import org.slimkeras.core.ManifestException.Kind;

/**
 * Typed access to the fields of one JSON object of manifest.json, with errors that name where
 * they are ({@link ManifestParser} builds on it).
 */
final class ManifestFields {
    private static final double MAX_EXACT_INTEGER = 9007199254740992.0; // 2^53

    final Map<String, Object> map;
    final String where;

    ManifestFields(Map<String, Object> map, String where) {
        this.map = map;
        this.where = where;
    }

    /** The same object, described with the model id for clearer messages. */
    ManifestFields named(String id) {
        return new ManifestFields(map, where + " (id \"" + id + "\")");
    }

    ManifestFields child(Object value, String key) throws ManifestException {
        if (!(value instanceof Map)) {
            throw bad(key, "must be an object, got " + value);
        }
        return new ManifestFields(asMap(value), where + "." + key);
    }

    ManifestFields element(List<Object> list, String key, int index) throws ManifestException {
        Object value = list.get(index);
        if (!(value instanceof Map)) {
            throw bad(key + "[" + index + "]", "must be an object, got " + value);
        }
        return new ManifestFields(asMap(value), key + "[" + index + "]");
    }

    Object required(String key) throws ManifestException {
        if (!map.containsKey(key)) {
            throw new ManifestException(Kind.MISSING_FIELD,
                    where + ": field \"" + key + "\" is missing");
        }
        return map.get(key);
    }

    /** Whether the object has {@code key} (for the optional keys of schema version 1). */
    boolean has(String key) {
        return map.containsKey(key);
    }

    ManifestException bad(String key, String problem) {
        return new ManifestException(Kind.BAD_VALUE, where + "." + key + " " + problem);
    }

    String string(String key) throws ManifestException {
        Object value = required(key);
        if (!(value instanceof String) || ((String) value).isEmpty()) {
            throw bad(key, "must be a non-empty string, got " + value);
        }
        return (String) value;
    }

    ManifestFields object(String key) throws ManifestException {
        return child(required(key), key);
    }

    ManifestFields nullableObject(String key) throws ManifestException {
        Object value = required(key);
        return value == null ? null : child(value, key);
    }

    List<Object> list(String key) throws ManifestException {
        List<Object> list = nullableList(key);
        if (list == null) {
            throw bad(key, "must be a list, got null");
        }
        return list;
    }

    @SuppressWarnings("unchecked")
    List<Object> nullableList(String key) throws ManifestException {
        Object value = required(key);
        if (value != null && !(value instanceof List)) {
            throw bad(key, "must be a list, got " + value);
        }
        return (List<Object>) value;
    }

    double number(Object value, String key) throws ManifestException {
        if (!(value instanceof Double)) {
            throw bad(key, "must be a number, got " + value);
        }
        return (Double) value;
    }

    double positiveNumber(Object value, String key) throws ManifestException {
        double number = number(value, key);
        if (!(number > 0)) {
            throw bad(key, "must be > 0, got " + number);
        }
        return number;
    }

    double nonNegativeNumber(String key) throws ManifestException {
        double number = number(required(key), key);
        if (number < 0) {
            throw bad(key, "must be >= 0, got " + number);
        }
        return number;
    }

    /** A number, or NaN for JSON null. */
    double nullableNumber(String key) throws ManifestException {
        Object value = required(key);
        return value == null ? Double.NaN : number(value, key);
    }

    double[] numbers(String key, int expectedLength) throws ManifestException {
        List<Object> list = list(key);
        if (list.size() != expectedLength) {
            throw bad(key, "must have " + expectedLength + " values, got " + list.size());
        }
        double[] result = new double[expectedLength];
        for (int i = 0; i < expectedLength; i++) {
            result[i] = number(list.get(i), key + "[" + i + "]");
        }
        return result;
    }

    long integer(Object value, String key, long min, long max) throws ManifestException {
        double number = number(value, key);
        if (number != Math.rint(number) || Math.abs(number) > MAX_EXACT_INTEGER
                || number < min || number > max) {
            throw bad(key, "must be an integer in [" + min + ", " + max + "], got " + value);
        }
        return (long) number;
    }

    int positiveInt(String key) throws ManifestException {
        return (int) integer(required(key), key, 1, Integer.MAX_VALUE);
    }

    long nonNegativeLong(String key) throws ManifestException {
        return integer(required(key), key, 0, Long.MAX_VALUE);
    }

    /** The fields of a parsed JSON value that must be an object (the caller checked). */
    static ManifestFields of(Object root, String where) {
        return new ManifestFields(asMap(root), where);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object value) {
        return (Map<String, Object>) value;
    }
}
