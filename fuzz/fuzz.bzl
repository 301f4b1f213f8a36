"""fuzz_target: one LLVMFuzzerTestOneInput source built as a replay test and as a libFuzzer binary."""

def fuzz_target(name, srcs, deps):
    """Defines <name>_regression (a cc_test) and <name> (the libFuzzer binary).

    <name>_regression runs the target once over every file of corpus/<name>/
    and regressions/<name>/ with any compiler, as part of `bazel test //...`.
    <name> links libFuzzer's driver; it builds only with --config=fuzz
    (scripts/fuzz), so it is tagged manual.
    """
    native.cc_library(
        name = name + "_lib",
        srcs = srcs,
        deps = deps + [":check"],
        alwayslink = True,
    )
    native.cc_test(
        name = name + "_regression",
        deps = [":" + name + "_lib", ":replay_main"],
        data = native.glob(["corpus/" + name + "/**", "regressions/" + name + "/**"]),
        args = ["fuzz/corpus/" + name, "fuzz/regressions/" + name],
        size = "small",
    )
    native.cc_binary(
        name = name,
        deps = [":" + name + "_lib"],
        linkopts = select({
            ":libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = ["manual"],
    )
