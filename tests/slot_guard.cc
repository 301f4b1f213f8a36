#include "tests/slot_guard.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/redis_slot.h"

namespace chat::testing {

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// ReadQuoted reads one "..." argument at line[*pos] into *out.
bool ReadQuoted(absl::string_view line, size_t* pos, std::string* out) {
  if (*pos >= line.size() || line[*pos] != '"') return false;
  for (size_t i = *pos + 1; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      *pos = i + 1;
      return true;
    }
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i >= line.size()) return false;
    switch (line[i]) {
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'a':
        out->push_back('\a');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'x': {
        if (i + 2 >= line.size()) return false;
        const int hi = HexDigit(line[i + 1]), lo = HexDigit(line[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        out->push_back(line[i]);  // \\ and \" (and anything else) stand for themselves.
    }
  }
  return false;
}

std::string Describe(absl::string_view key) {
  return absl::StrCat("\"", absl::CHexEscape(key), "\" (slot ", redis::KeySlot(key), ")");
}

}  // namespace

absl::StatusOr<MonitorEntry> ParseMonitorLine(absl::string_view line) {
  const size_t open = line.find(" [");
  const size_t close = line.find("] ", open == absl::string_view::npos ? 0 : open);
  if (open == absl::string_view::npos || close == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("not a MONITOR line: ", line));
  }
  MonitorEntry entry;
  absl::string_view source = line.substr(open + 2, close - open - 2);
  const size_t space = source.find(' ');
  entry.from_script = space != absl::string_view::npos && source.substr(space + 1) == "lua";
  size_t pos = close + 2;
  while (pos < line.size()) {
    std::string arg;
    if (!ReadQuoted(line, &pos, &arg)) {
      return absl::InvalidArgumentError(absl::StrCat("bad argument in MONITOR line: ", line));
    }
    entry.args.push_back(std::move(arg));
    if (pos < line.size() && line[pos] == ' ') ++pos;
  }
  if (entry.args.empty()) return absl::InvalidArgumentError("MONITOR line without a command");
  return entry;
}

std::vector<std::string> CheckSlots(const std::vector<MonitorEntry>& entries,
                                    const KeysOf& keys_of) {
  std::vector<std::string> findings;
  std::set<std::string> seen;
  auto report = [&](std::string finding) {
    if (seen.insert(finding).second) findings.push_back(std::move(finding));
  };
  bool in_script = false;
  int script_slot = -1;
  std::string script;  // "EVALSHA <sha>" or "EVAL <first line>", for the finding.
  for (const MonitorEntry& entry : entries) {
    const std::string command = absl::AsciiStrToUpper(entry.args[0]);
    std::vector<std::string> keys = keys_of(entry.args);
    if (!entry.from_script) {
      std::map<int, std::string> slots;
      for (const std::string& key : keys) slots.emplace(redis::KeySlot(key), key);
      if (slots.size() > 1) {
        std::vector<std::string> described;
        for (const auto& [slot, key] : slots) described.push_back(Describe(key));
        report(absl::StrCat(command, " touches keys in ", slots.size(),
                            " slots: ", absl::StrJoin(described, ", ")));
      }
      in_script = command == "EVAL" || command == "EVALSHA" || command == "EVAL_RO" ||
                  command == "EVALSHA_RO" || command == "FCALL" || command == "FCALL_RO";
      if (in_script) {
        script_slot = keys.empty() ? -1 : redis::KeySlot(keys[0]);
        const std::string& body = entry.args.size() > 1 ? entry.args[1] : "";
        script = absl::StrCat(command, " ", body.substr(0, body.find('\n')).substr(0, 60));
      }
      continue;
    }
    if (!in_script) continue;  // A script line without its EVAL: nothing to hold it to.
    if ((command == "PUBLISH" || command == "SPUBLISH") && entry.args.size() > 1) {
      keys.push_back(entry.args[1]);  // Under sharded pub/sub the topic is routed as a key.
    }
    for (const std::string& key : keys) {
      if (script_slot < 0) {
        report(absl::StrCat(script, " declares no keys, yet its ", command, " touches ",
                            Describe(key)));
      } else if (redis::KeySlot(key) != script_slot) {
        report(absl::StrCat(script, " (slot ", script_slot, ") runs ", command, " on ",
                            Describe(key)));
      }
    }
  }
  return findings;
}

SlotGuard::~SlotGuard() {
  if (started()) Finish();
}

absl::Status SlotGuard::Start(int port) {
  port_ = port;
  monitor_ = redisConnect("127.0.0.1", port);
  if (monitor_ == nullptr || monitor_->err) {
    if (monitor_ != nullptr) redisFree(monitor_);
    monitor_ = nullptr;
    return absl::UnavailableError("slot guard: cannot connect to Redis");
  }
  // A read that waits this long means the server is gone: the reader gives up.
  const timeval timeout = {60, 0};
  redisSetTimeout(monitor_, timeout);
  auto* reply = static_cast<redisReply*>(redisCommand(monitor_, "MONITOR"));
  const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
  if (reply != nullptr) freeReplyObject(reply);
  if (!ok) {
    redisFree(monitor_);
    monitor_ = nullptr;
    return absl::UnavailableError("slot guard: MONITOR refused");
  }
  marker_ = absl::StrCat("slot-guard-end-", reinterpret_cast<uintptr_t>(this), "-", getpid());
  reader_ = std::thread([this] { Record(); });
  return absl::OkStatus();
}

void SlotGuard::Record() {
  for (;;) {
    void* raw = nullptr;
    if (redisGetReply(monitor_, &raw) != REDIS_OK || raw == nullptr) {
      std::lock_guard<std::mutex> lock(mu_);
      lost_ = true;
      return;
    }
    auto* reply = static_cast<redisReply*>(raw);
    absl::StatusOr<MonitorEntry> entry =
        reply->type == REDIS_REPLY_STATUS
            ? ParseMonitorLine(absl::string_view(reply->str, reply->len))
            : absl::InvalidArgumentError("not a status reply");
    freeReplyObject(reply);
    if (!entry.ok()) continue;
    if (entry->args.size() == 2 && absl::AsciiStrToUpper(entry->args[0]) == "ECHO" &&
        entry->args[1] == marker_) {
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(*std::move(entry));
  }
}

std::vector<std::string> SlotGuard::Finish() {
  if (!started()) return {};
  // The marker goes through the server after everything sent before this
  // call, so once the reader has seen it, it has seen all of that.
  redisContext* c = redisConnect("127.0.0.1", port_);
  if (c != nullptr && c->err == 0) {
    if (auto* r = static_cast<redisReply*>(redisCommand(c, "ECHO %s", marker_.c_str()))) {
      freeReplyObject(r);
    }
  }
  reader_.join();
  redisFree(monitor_);
  monitor_ = nullptr;
  std::vector<MonitorEntry> entries;
  bool lost;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries.swap(entries_);
    lost = lost_;
  }
  // The server names the keys of each command; a command without keys (or
  // one it cannot parse) has none.
  std::map<std::vector<std::string>, std::vector<std::string>> cache;
  KeysOf keys_of = [&](const std::vector<std::string>& args) -> std::vector<std::string> {
    if (c == nullptr || c->err) return {};
    auto [it, fresh] = cache.try_emplace(args);
    if (!fresh) return it->second;
    std::vector<const char*> argv = {"COMMAND", "GETKEYS"};
    std::vector<size_t> lens = {7, 7};
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lens.push_back(arg.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r != nullptr && r->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i < r->elements; ++i) {
        it->second.emplace_back(r->element[i]->str, r->element[i]->len);
      }
    }
    if (r != nullptr) freeReplyObject(r);
    return it->second;
  };
  std::vector<std::string> findings = CheckSlots(entries, keys_of);
  if (c != nullptr) redisFree(c);
  if (lost) {
    findings.push_back(
        "the guard lost its MONITOR connection (Redis restarted?): later commands are unchecked");
  }
  return findings;
}

}  // namespace chat::testing
