// Android Studio project for the slimkeras width-switching demo.
// :core is the plain-Java policy library (also tested without Android by core/run_tests.sh);
// :app is the Android shell (CameraX + LiteRT).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "slimkeras-demo"
include(":app", ":core")
