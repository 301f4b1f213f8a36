"""Repository rules that adapt Debian's packaged Bazel rules and C++ libraries."""

def _patched_rules_cc_impl(rctx):
    # Debian ships rules_cc for a newer Bazel; Bazel 4 lacks use_cpp_toolchain().
    rctx.execute(["cp", "-r", rctx.attr.src + "/.", "."])
    for f in [
        "cc/private/rules_impl/compiler_flag.bzl",
        "cc/private/rules_impl/cc_flags_supplier.bzl",
    ]:
        text = rctx.read(f)
        text = text.replace(", \"use_cpp_toolchain\")", ")")
        text = text.replace("use_cpp_toolchain()", "[\"@bazel_tools//tools/cpp:toolchain_type\"]")
        rctx.file(f, text)

patched_rules_cc = repository_rule(
    implementation = _patched_rules_cc_impl,
    attrs = {"src": attr.string(mandatory = True)},
    local = True,
)

def _system_libs_impl(rctx):
    lines = ["package(default_visibility = [\"//visibility:public\"])", ""]
    for name, modules in rctx.attr.libs.items():
        res = rctx.execute(["pkg-config", "--libs"] + modules.split(" "))
        if res.return_code != 0:
            fail("pkg-config failed for %s: %s" % (modules, res.stderr))
        flags = [f for f in res.stdout.strip().split(" ") if f]
        cres = rctx.execute(["pkg-config", "--cflags"] + modules.split(" "))
        defines = [f[2:] for f in cres.stdout.strip().split(" ") if f.startswith("-D")]
        lines.append("cc_library(")
        lines.append("    name = \"%s\"," % name)
        lines.append("    linkopts = %s," % repr(flags))
        lines.append("    defines = %s," % repr(defines))
        lines.append(")")
        lines.append("")
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD", "\n".join(lines))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    attrs = {"libs": attr.string_dict(mandatory = True)},
    local = True,
)
