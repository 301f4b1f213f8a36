// Fuzzes what the suite reads back from Redis: a reply in RESP, as a Redis
// server (or anyone who can write to it) could send, goes through hiredis's
// reader and the client's reply conversion, then through the decoders of the
// records the services stored — a channel's history page, a user's personal
// log page, an invitation's hash — and, for the gateway, a pub/sub payload
// ("<seq> <Event bytes>") with each of its wire encodings. The first input
// byte picks the decoder. Only a crash or a sanitizer report fails it: a
// record that does not decode must be refused, never trusted.
#include <hiredis/hiredis.h>

#include <cstdint>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "chat_service/redis_chat_store.h"
#include "common/personal_log.h"
#include "common/redis_connection.h"
#include "gateway/encoded_event.h"
#include "invite_service/redis_invite_store.h"

namespace {

void Decode(uint8_t which, const chat::redis::Reply& reply) {
  switch (which % 4) {
    case 0:
      (void)chat::chat_service::DecodeHistoryPage(reply, which & 4);
      break;
    case 1:
      (void)chat::DecodePersonalPage(reply);
      break;
    case 2:
      (void)chat::invite_service::InvitationFromHash(reply);
      break;
    default:
      break;
  }
}

}  // namespace

// HugeAggregate: whether a RESP array, map, set or push header announces
// more than 2^20 elements. hiredis 0.14 allocates the element array from that
// count before any element arrives (1.0 added `maxelements`): "*888888888"
// asked for 7 GB (fuzz/regressions/redis_record_fuzzer/). A Redis server, which
// the suite trusts, sends only real counts; the bound keeps the fuzzer on the
// decoders.
bool HugeAggregate(absl::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c != '*' && c != '%' && c != '~' && c != '>') continue;
    size_t digits = 0;
    uint64_t count = 0;
    while (i + 1 + digits < bytes.size() && absl::ascii_isdigit(bytes[i + 1 + digits]) &&
           digits < 19) {
      count = count * 10 + static_cast<uint64_t>(bytes[i + 1 + digits] - '0');
      ++digits;
    }
    if (count > (1u << 20)) return true;
  }
  return false;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0];
  const char* bytes = reinterpret_cast<const char*>(data) + 1;
  const size_t length = size - 1;
  if (which % 4 == 3) {
    auto event = chat::gateway::DecodeTopicPayload("{c:demo:general}:events",
                                                   absl::string_view(bytes, length));
    if (event.ok()) {
      (void)(*event)->Json();
      (void)(*event)->Binary();
      (void)(*event)->SeedJson();
    }
    return 0;
  }
  if (HugeAggregate(absl::string_view(bytes, length))) return 0;
  redisReader* reader = redisReaderCreate();
  if (redisReaderFeed(reader, bytes, length) == REDIS_OK) {
    void* raw = nullptr;
    while (redisReaderGetReply(reader, &raw) == REDIS_OK && raw != nullptr) {
      auto reply = chat::redis::ConvertReply(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      raw = nullptr;
      if (reply.ok()) Decode(which, *reply);
    }
  }
  redisReaderFree(reader);
  return 0;
}
