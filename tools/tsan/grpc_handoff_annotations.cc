// Makes the hand-offs inside Debian's (uninstrumented) gRPC core visible to
// ThreadSanitizer. Every batch of operations started on a call carries a tag;
// when the batch completes, core hands the tag to another thread through its
// own lock-free queues, which TSan cannot see, and that thread gets it back
// from grpc_completion_queue_next or _pluck. The gRPC++ templates on both
// sides (starting a call, running its callback, deserializing a request into
// a handler) are compiled into our code, so without this every callback
// reads what its starter wrote "racily".
//
// So: a release on the tag where it is handed to core (grpc_call_start_batch,
// grpc_server_request_call and _registered_call,
// grpc_channel_watch_connectivity_state), and an acquire on it where it comes
// back (next, pluck). Debian's gRPC runs the callback API on its "callback
// alternative" completion queue, a next queue polled by gRPC's own threads,
// so the callbacks' tags come back through next too; a true callback queue
// would bypass these hooks, so its creation is reported.
//
// Server calls are allocated by core for registered methods (no request tag
// from our side): a release on kServerStarted at grpc_server_start, acquired
// with every completion, orders a service's construction before the first
// request it handles. That edge is coarse (one address for every server):
// what a thread did before starting any server is seen as ordered before every
// later completion, which can hide a race with a server started earlier
// (docs/security.md, "ThreadSanitizer").
#include <grpc/grpc.h>

#include "tools/tsan/real_symbol.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

using chat::tsan::Real;

namespace {

char kServerStarted;

void Returned(const grpc_event& ev) {
  if (ev.type != GRPC_OP_COMPLETE) return;
  __tsan_acquire(&kServerStarted);
  if (ev.tag != nullptr) __tsan_acquire(ev.tag);
}

}  // namespace

extern "C" {

grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops, void* tag,
                                      void* reserved) {
  static const auto real =
      Real<grpc_call_error (*)(grpc_call*, const grpc_op*, size_t, void*, void*)>(
          "grpc_call_start_batch");
  if (tag != nullptr) __tsan_release(tag);
  return real(call, ops, nops, tag, reserved);
}

grpc_call_error grpc_server_request_call(grpc_server* server, grpc_call** call,
                                         grpc_call_details* details,
                                         grpc_metadata_array* request_metadata,
                                         grpc_completion_queue* cq_bound_to_call,
                                         grpc_completion_queue* cq_for_notification,
                                         void* tag_new) {
  static const auto real =
      Real<grpc_call_error (*)(grpc_server*, grpc_call**, grpc_call_details*, grpc_metadata_array*,
                               grpc_completion_queue*, grpc_completion_queue*, void*)>(
          "grpc_server_request_call");
  if (tag_new != nullptr) __tsan_release(tag_new);
  return real(server, call, details, request_metadata, cq_bound_to_call, cq_for_notification,
              tag_new);
}

grpc_call_error grpc_server_request_registered_call(grpc_server* server, void* registered_method,
                                                    grpc_call** call, gpr_timespec* deadline,
                                                    grpc_metadata_array* request_metadata,
                                                    grpc_byte_buffer** optional_payload,
                                                    grpc_completion_queue* cq_bound_to_call,
                                                    grpc_completion_queue* cq_for_notification,
                                                    void* tag_new) {
  static const auto real = Real<grpc_call_error (*)(
      grpc_server*, void*, grpc_call**, gpr_timespec*, grpc_metadata_array*, grpc_byte_buffer**,
      grpc_completion_queue*, grpc_completion_queue*, void*)>(
      "grpc_server_request_registered_call");
  if (tag_new != nullptr) __tsan_release(tag_new);
  return real(server, registered_method, call, deadline, request_metadata, optional_payload,
              cq_bound_to_call, cq_for_notification, tag_new);
}

void grpc_channel_watch_connectivity_state(grpc_channel* channel,
                                           grpc_connectivity_state last_observed_state,
                                           gpr_timespec deadline, grpc_completion_queue* cq,
                                           void* tag) {
  static const auto real =
      Real<void (*)(grpc_channel*, grpc_connectivity_state, gpr_timespec, grpc_completion_queue*,
                    void*)>("grpc_channel_watch_connectivity_state");
  if (tag != nullptr) __tsan_release(tag);
  real(channel, last_observed_state, deadline, cq, tag);
}

void grpc_server_start(grpc_server* server) {
  static const auto real = Real<void (*)(grpc_server*)>("grpc_server_start");
  __tsan_release(&kServerStarted);
  real(server);
}

grpc_completion_queue* grpc_completion_queue_create(const grpc_completion_queue_factory* factory,
                                                    const grpc_completion_queue_attributes* attr,
                                                    void* reserved) {
  static const auto real =
      Real<grpc_completion_queue* (*)(const grpc_completion_queue_factory*,
                                      const grpc_completion_queue_attributes*, void*)>(
          "grpc_completion_queue_create");
  if (attr != nullptr && attr->cq_completion_type == GRPC_CQ_CALLBACK) {
    std::fprintf(stderr,
                 "grpc_handoff_annotations: a callback completion queue bypasses these "
                 "annotations; TSan reports on its callbacks are not meaningful\n");
  }
  return real(factory, attr, reserved);
}

grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline,
                                      void* reserved) {
  static const auto real = Real<grpc_event (*)(grpc_completion_queue*, gpr_timespec, void*)>(
      "grpc_completion_queue_next");
  grpc_event ev = real(cq, deadline, reserved);
  Returned(ev);
  return ev;
}

grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag, gpr_timespec deadline,
                                       void* reserved) {
  static const auto real = Real<grpc_event (*)(grpc_completion_queue*, void*, gpr_timespec, void*)>(
      "grpc_completion_queue_pluck");
  grpc_event ev = real(cq, tag, deadline, reserved);
  Returned(ev);
  return ev;
}

}  // extern "C"
