// SlotGuard holds the code to Redis Cluster's one-slot rule, on a plain
// Redis: it watches every command the server runs (MONITOR, which also shows
// the commands a Lua script runs) and reports each command whose keys span
// slots, and each script that touches a key (or publishes to a topic) outside
// the slot of the keys it declared. In a cluster a command across slots
// fails (CROSSSLOT), and so does a script that reaches another slot's key or
// SPUBLISHes to another slot's shard channel; a plain PUBLISH would pass
// (it is broadcast), but is held to the sharded pub/sub rule on purpose, for
// the cluster mode's switch to SPUBLISH. A change that would break cluster
// mode fails the suite instead. The keys of a command are the
// server's own answer (COMMAND GETKEYS); slots are common/redis_slot.h's.
//
// The Stack (tests/harness.h) runs one when CHATSUITE_SLOT_GUARD is set, and
// fails the test with the guard's findings when it is torn down.
#ifndef CHATSUITE_TESTS_SLOT_GUARD_H_
#define CHATSUITE_TESTS_SLOT_GUARD_H_

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct redisContext;

namespace chat::testing {

// One line of MONITOR output: the command's arguments, and whether a script
// ran it ("[0 lua]") rather than a client.
struct MonitorEntry {
  bool from_script = false;
  std::vector<std::string> args;
};

// ParseMonitorLine parses `<time> [<db> <source>] "arg" "arg" ...` with the
// server's escapes (\\ \" \n \r \t \a \b \xHH). kInvalidArgument otherwise.
absl::StatusOr<MonitorEntry> ParseMonitorLine(absl::string_view line);

// KeysOf returns the keys among a command's arguments (empty for none).
using KeysOf = std::function<std::vector<std::string>(const std::vector<std::string>& args)>;

// CheckSlots returns one finding per distinct violation in entries (in the
// order MONITOR gave them: a script's commands follow the EVAL/EVALSHA that
// ran them): a command whose keys span slots; a script command whose keys,
// or whose PUBLISH/SPUBLISH topic, lie outside its script's slot; a script
// that declares no keys but touches some.
std::vector<std::string> CheckSlots(const std::vector<MonitorEntry>& entries,
                                    const KeysOf& keys_of);

class SlotGuard {
 public:
  SlotGuard() = default;
  ~SlotGuard();
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;

  // Start issues MONITOR on 127.0.0.1:port and records from then on.
  absl::Status Start(int port);
  // Finish stops recording once the server has shown every command sent
  // before the call, and returns CheckSlots' findings. A monitor connection
  // that broke (Redis restarted) ends the check at that point, with a finding
  // saying so.
  std::vector<std::string> Finish();
  bool started() const { return monitor_ != nullptr; }

 private:
  void Record();

  int port_ = 0;
  redisContext* monitor_ = nullptr;
  std::string marker_;
  std::thread reader_;
  std::mutex mu_;
  std::vector<MonitorEntry> entries_;  // Guarded by mu_.
  bool lost_ = false;                  // Guarded by mu_.
};

}  // namespace chat::testing

#endif  // CHATSUITE_TESTS_SLOT_GUARD_H_
