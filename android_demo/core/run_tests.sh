#!/usr/bin/env bash
# Compiles the plain-Java core and its JUnit 5 tests as Java 8 (what Android needs)
# with javac into build/, runs them with the JUnit console launcher, and prints
# "N passed, N failed" as the LAST line. Exits non-zero if a test failed, if compilation
# failed (reported as "0 passed, 1 failed"), or if JUnit 5 is not installed.
# Works from any directory. Override the launcher with JUNIT_JAR=/path/to/standalone.jar.
set -uo pipefail

CORE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="$CORE_DIR/build"
TRACES_DIR="$(cd "$CORE_DIR/../traces" && pwd)"
JUNIT_JAR="${JUNIT_JAR:-/usr/share/java/junit-platform-console-standalone.jar}"

# Reports a problem that stopped the run before any test ran, and exits.
abort() {
    echo "error: $1" >&2
    echo "0 passed, 1 failed"
    exit 1
}

[[ -f "$JUNIT_JAR" ]] || abort "JUnit 5 console launcher not found at $JUNIT_JAR;\
 install it with: apt-get install -y junit5"
command -v javac >/dev/null || abort "javac not found; install a JDK (17 or later)"

mapfile -d '' MAIN_SOURCES < <(find "$CORE_DIR/src/main/java" -name '*.java' -print0)
mapfile -d '' TEST_SOURCES < <(find "$CORE_DIR/src/test/java" -name '*.java' -print0)

rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR/main" "$BUILD_DIR/test"
javac --release 8 -encoding UTF-8 -Xlint:all,-options -Werror -d "$BUILD_DIR/main" \
    "${MAIN_SOURCES[@]}" || abort "compiling src/main/java failed"
javac --release 8 -encoding UTF-8 -Xlint:all,-options -Werror -d "$BUILD_DIR/test" \
    -cp "$BUILD_DIR/main:$JUNIT_JAR" "${TEST_SOURCES[@]}" || abort "compiling src/test/java failed"

LOG="$BUILD_DIR/junit.log"
cd "$CORE_DIR"
java -Dslimkeras.traces="$TRACES_DIR" -jar "$JUNIT_JAR" \
    --class-path "$BUILD_DIR/main:$BUILD_DIR/test" --scan-class-path \
    --disable-banner --disable-ansi-colors --details=summary --fail-if-no-tests 2>&1 | tee "$LOG"
JUNIT_STATUS=${PIPESTATUS[0]}

# Reads a count from the launcher's summary box, e.g. "[   12 tests successful   ]".
count() {
    grep -Eo "\[ *[0-9]+ $1" "$LOG" | grep -Eo '[0-9]+' | head -n 1
}
PASSED=$(count "tests successful")
FAILED=$(( $(count "tests failed" || echo 0) + $(count "containers failed" || echo 0) ))
[[ -n "$PASSED" ]] || abort "could not read the JUnit summary (launcher exit code $JUNIT_STATUS)"

echo "$PASSED passed, $FAILED failed"
if [[ $JUNIT_STATUS -ne 0 || $FAILED -ne 0 ]]; then
    exit 1
fi
