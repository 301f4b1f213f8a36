#!/usr/bin/env bash
# Runs a test under ThreadSanitizer with absl's mutexes made visible
# (libsync_annotations.so preloaded) and the suppressions for races
# reported entirely inside Debian's uninstrumented gRPC and protobuf. Every
# process the test starts inherits both.
here="$0.runfiles/chatsuite/tools/tsan"
[ -d "$here" ] || here="$(cd "$(dirname "$0")" && pwd)"
export LD_PRELOAD="$here/libsync_annotations.so${LD_PRELOAD:+:$LD_PRELOAD}"
export TSAN_OPTIONS="suppressions=$here/suppressions halt_on_error=1 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
exec "$@"
