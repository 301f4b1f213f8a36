// Check is how a fuzz target states a property: a false one aborts, which
// libFuzzer reports as a crash and the replay test as a failure.
#ifndef CHATSUITE_FUZZ_CHECK_H_
#define CHATSUITE_FUZZ_CHECK_H_

#include <cstdlib>

namespace chat::fuzz {

inline void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace chat::fuzz

#endif  // CHATSUITE_FUZZ_CHECK_H_
