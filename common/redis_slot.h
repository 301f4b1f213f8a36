// Redis Cluster's key slots: which of the 16,384 slots a key lives in, as
// Redis itself computes it (CRC16/XMODEM of the key's hash tag, or of the
// whole key when it has none, modulo 16,384). Keys that share a hash tag
// share a slot, which is what lets one Lua script or one multi-key command
// run on one cluster node. Every key and topic of a channel or a user
// carries one tag (common/keys.h), so these functions are the contract the
// cluster routing and the test suite's slot guard (tests/slot_guard.h) hold
// the code to.
#ifndef CHATSUITE_COMMON_REDIS_SLOT_H_
#define CHATSUITE_COMMON_REDIS_SLOT_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace chat::redis {

inline constexpr int kClusterSlots = 16384;

// HashTag returns the part of key that decides its slot: the bytes between
// the first '{' and the first '}' after it when there is at least one,
// otherwise the whole key ("{}x" and "x{" hash whole; "a{b}{c}" hashes "b").
absl::string_view HashTag(absl::string_view key);

// Crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no
// reflection), the checksum Redis Cluster uses.
uint16_t Crc16(absl::string_view bytes);

// KeySlot returns key's slot in [0, kClusterSlots).
int KeySlot(absl::string_view key);

}  // namespace chat::redis

#endif  // CHATSUITE_COMMON_REDIS_SLOT_H_
