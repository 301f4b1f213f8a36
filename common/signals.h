// WaitForSignal: how every binary's main() waits to be told to stop.
#ifndef CHATSUITE_COMMON_SIGNALS_H_
#define CHATSUITE_COMMON_SIGNALS_H_

#include <functional>

namespace chat {

// IgnoreSigpipe makes writes to closed sockets return EPIPE instead of
// killing the process (hiredis writes with write(2)), and ignores SIGHUP
// (whose default is to terminate) except while WaitForSignal handles it, so
// a `kill -HUP` meant for a reload can never stop a binary that is starting,
// draining or has no reload. Call first in main().
void IgnoreSigpipe();

// WaitForSignal blocks the calling thread (main's, never an I/O thread) until
// SIGTERM or SIGINT arrives, and returns its number. It also ignores SIGPIPE.
// With on_hangup, each SIGHUP runs it (on this thread) and the wait goes on;
// before and after the wait SIGHUP is ignored.
int WaitForSignal(const std::function<void()>& on_hangup = nullptr);

}  // namespace chat

#endif  // CHATSUITE_COMMON_SIGNALS_H_
