// Makes Debian's (uninstrumented) absl::Mutex and absl::CondVar visible to
// ThreadSanitizer. Preloaded into every test under --config=tsan (run.sh),
// it interposes their exported entry points — the same symbols our code,
// gRPC and Abseil itself call through the PLT — calls the real ones, and
// tells TSan of each acquire and release on the mutex's address. Without
// it, every absl::Mutex-protected field would be reported as a race.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/tsan/real_symbol.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

using chat::tsan::Real;

namespace {

template <typename T>
T AcquireAfter(void* mu, T result) {
  __tsan_acquire(mu);
  return result;
}

using Cond = const void*;  // An absl::Condition.

// Guarded wraps a condition so that each evaluation is seen under its mutex
// (acquired before, released after): Abseil evaluates a waiter's condition inside the library,
// after re-taking the mutex internally (or on the thread that unlocks it), where the interposed
// Lock never sees it. Lives for the call it is passed to.
class Guarded {
 public:
  Guarded(void* mu, Cond c)
      : scope_{mu, static_cast<const absl::Condition*>(c)}, condition_(&Eval, &scope_) {}
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;
  Cond get() const { return &condition_; }

 private:
  struct Scope {
    void* mu;
    const absl::Condition* original;
  };
  static bool Eval(Scope* s) {
    // Looked up on first use, not linked: the library is preloaded into
    // processes without Abseil too (sh, redis-server).
    static const auto eval =
        Real<bool (*)(const absl::Condition*)>("_ZNK4absl7debian39Condition4EvalEv");
    // Evaluated with the mutex held, which is then dropped inside the
    // library (a waiter going back to sleep) unseen: release after reading.
    __tsan_acquire(s->mu);
    const bool holds = eval(s->original);
    __tsan_release(s->mu);
    return holds;
  }
  Scope scope_;
  absl::Condition condition_;
};

}  // namespace

extern "C" {

void _ZN4absl7debian35Mutex4LockEv(void* mu) {
  static const auto real = Real<void (*)(void*)>("_ZN4absl7debian35Mutex4LockEv");
  real(mu);
  __tsan_acquire(mu);
}
void _ZN4absl7debian35Mutex10ReaderLockEv(void* mu) {
  static const auto real = Real<void (*)(void*)>("_ZN4absl7debian35Mutex10ReaderLockEv");
  real(mu);
  __tsan_acquire(mu);
}
void _ZN4absl7debian35Mutex6UnlockEv(void* mu) {
  static const auto real = Real<void (*)(void*)>("_ZN4absl7debian35Mutex6UnlockEv");
  __tsan_release(mu);
  real(mu);
}
void _ZN4absl7debian35Mutex12ReaderUnlockEv(void* mu) {
  static const auto real = Real<void (*)(void*)>("_ZN4absl7debian35Mutex12ReaderUnlockEv");
  __tsan_release(mu);
  real(mu);
}
bool _ZN4absl7debian35Mutex7TryLockEv(void* mu) {
  static const auto real = Real<bool (*)(void*)>("_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = real(mu);
  if (locked) __tsan_acquire(mu);
  return locked;
}
bool _ZN4absl7debian35Mutex13ReaderTryLockEv(void* mu) {
  static const auto real = Real<bool (*)(void*)>("_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = real(mu);
  if (locked) __tsan_acquire(mu);
  return locked;
}
void _ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(void* mu, Cond c) {
  static const auto real =
      Real<void (*)(void*, Cond)>("_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  real(mu, Guarded(mu, c).get());
  __tsan_acquire(mu);
}
void _ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE(void* mu, Cond c) {
  static const auto real =
      Real<void (*)(void*, Cond)>("_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  real(mu, Guarded(mu, c).get());
  __tsan_acquire(mu);
}
// The timed locks hold the mutex on return whether or not the condition held.
bool _ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(void* mu, Cond c,
                                                                                 absl::Duration d) {
  static const auto real = Real<bool (*)(void*, Cond, absl::Duration)>(
      "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return AcquireAfter(mu, real(mu, Guarded(mu, c).get(), d));
}
bool _ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(void* mu, Cond c,
                                                                              absl::Time t) {
  static const auto real = Real<bool (*)(void*, Cond, absl::Time)>(
      "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return AcquireAfter(mu, real(mu, Guarded(mu, c).get(), t));
}
bool _ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    void* mu, Cond c, absl::Duration d) {
  static const auto real = Real<bool (*)(void*, Cond, absl::Duration)>(
      "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return AcquireAfter(mu, real(mu, Guarded(mu, c).get(), d));
}
bool _ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(void* mu,
                                                                                    Cond c,
                                                                                    absl::Time t) {
  static const auto real = Real<bool (*)(void*, Cond, absl::Time)>(
      "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return AcquireAfter(mu, real(mu, Guarded(mu, c).get(), t));
}
// Await and CondVar waits release the mutex while they wait.
void _ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(void* mu, Cond c) {
  static const auto real =
      Real<void (*)(void*, Cond)>("_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(mu);
  real(mu, Guarded(mu, c).get());
  __tsan_acquire(mu);
}
bool _ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(void* mu, Cond c,
                                                                              absl::Duration d) {
  static const auto real = Real<bool (*)(void*, Cond, absl::Duration)>(
      "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_release(mu);
  return AcquireAfter(mu, real(mu, Guarded(mu, c).get(), d));
}
bool _ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(void* mu, Cond c,
                                                                           absl::Time t) {
  static const auto real = Real<bool (*)(void*, Cond, absl::Time)>(
      "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_release(mu);
  return AcquireAfter(mu, real(mu, Guarded(mu, c).get(), t));
}
void _ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(void* cv, void* mu) {
  static const auto real =
      Real<void (*)(void*, void*)>("_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(cv, mu);
  __tsan_acquire(mu);
}
bool _ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(void* cv, void* mu,
                                                                          absl::Duration d) {
  static const auto real = Real<bool (*)(void*, void*, absl::Duration)>(
      "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  return AcquireAfter(mu, real(cv, mu, d));
}
bool _ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(void* cv, void* mu,
                                                                       absl::Time t) {
  static const auto real = Real<bool (*)(void*, void*, absl::Time)>(
      "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  return AcquireAfter(mu, real(cv, mu, t));
}

// absl::call_once's waiters (and SpinLock's) wait in the library for a
// value another thread stored with release order; the store is in our
// (instrumented) code, the load is not.
uint32_t
_ZN4absl7debian313base_internal12SpinLockWaitEPSt6atomicIjEiPKNS1_22SpinLockWaitTransitionENS1_14SchedulingModeE(
    void* word, int n, const void* transitions, int mode) {
  static const auto real = Real<uint32_t (*)(void*, int, const void*, int)>(
      "_ZN4absl7debian313base_internal12SpinLockWaitEPSt6atomicIjEiPKNS1_"
      "22SpinLockWaitTransitionENS1_"
      "14SchedulingModeE");
  const uint32_t value = real(word, n, transitions, mode);
  __tsan_acquire(word);
  return value;
}

}  // extern "C"
