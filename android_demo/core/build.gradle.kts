// The policy core: plain Java 8, no Android classes, so it runs on the JVM and on Android.
// The same sources are compiled and tested without Gradle by core/run_tests.sh.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

dependencies {
    testImplementation(platform("org.junit:junit-bom:5.10.3"))
    testImplementation("org.junit.jupiter:junit-jupiter")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

tasks.test {
    useJUnitPlatform()
    // The trace files shared with the Python tests.
    systemProperty("slimkeras.traces", rootProject.file("traces").absolutePath)
}
