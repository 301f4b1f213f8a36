// Real: the next definition of symbol after the interposer's own (dlsym
// RTLD_NEXT), for the interposers in this directory. Aborts when missing: a
// test run without the real function would prove nothing.
#ifndef CHATSUITE_TOOLS_TSAN_REAL_SYMBOL_H_
#define CHATSUITE_TOOLS_TSAN_REAL_SYMBOL_H_

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace chat::tsan {

template <typename F>
F Real(const char* symbol) {
  void* f = dlsym(RTLD_NEXT, symbol);
  if (f == nullptr) {
    std::fprintf(stderr, "tools/tsan: %s not found\n", symbol);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

}  // namespace chat::tsan

#endif  // CHATSUITE_TOOLS_TSAN_REAL_SYMBOL_H_
