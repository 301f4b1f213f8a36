"""cc_proto: compiles .proto files with Debian's protoc and grpc_cpp_plugin."""

def cc_proto(name, srcs, deps = [], grpc = False, visibility = None):
    """Generates C++ (and, with grpc = True, gRPC service) code for srcs.

    Imports are resolved from the workspace root, so proto/foo.proto imports
    "proto/bar.proto". deps are other cc_proto targets whose .proto files srcs import.
    """
    outs = []
    for s in srcs:
        base = s[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    pkg = native.package_name()
    gen_dir = "$(GENDIR)"
    cmd = "protoc -I. -I/usr/include --cpp_out=%s" % gen_dir
    if grpc:
        cmd += " --grpc_out=%s --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin" % gen_dir
    cmd += " " + " ".join(["%s/%s" % (pkg, s) for s in srcs])
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = cmd,
    )
    native.filegroup(name = name + "_srcs", srcs = srcs, visibility = visibility)
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system//:protobuf"] + (["@system//:grpc"] if grpc else []),
        visibility = visibility,
    )
