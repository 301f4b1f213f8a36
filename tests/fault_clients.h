// Clients and processes for fault injection, shared by tests/fault_e2e_test
// and the chaos bench scenario (bench/chaos.cc). A Member behaves as the
// protocol asks a client to (docs/protocol.md, "What a client must do"): it
// keeps its cursor, resumes on another gateway when its socket ends, and
// resends what was not acknowledged under the same nonce. It records what
// arrived so a caller can count losses, repeats and gaps.
#ifndef CHATSUITE_TESTS_FAULT_CLIENTS_H_
#define CHATSUITE_TESTS_FAULT_CLIENTS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/harness.h"

namespace chat::testing {

// ChatFrame is a chat_message frame for demo/general.
std::string ChatFrame(const std::string& text, const std::string& id);

class Member {
 public:
  // ports: the gateways to use, in the order to try them.
  Member(Stack& stack, std::string user, std::vector<int> ports);

  bool connected() const { return ws_ != nullptr; }

  // Connect identifies on the current gateway (resuming when it has a
  // cursor) and resends what is pending; false if that gateway does not
  // answer.
  bool Connect();
  // Send sends a new message (held for resending until acked).
  void Send(const std::string& nonce);
  // Pump handles what arrived within timeout; on a closed socket it moves to
  // the next gateway.
  void Pump(absl::Duration timeout);
  // ResendIfAsked resends pending messages after an error frame.
  void ResendIfAsked();
  // MarkRead moves the member's read marker to the last seq received: a
  // personal event (read_state) for every session of the member.
  void MarkRead();

  const std::map<std::string, int64_t>& acked() const { return acked_; }
  const std::vector<int64_t>& received() const { return received_; }
  const std::vector<int64_t>& gaps() const { return gaps_; }
  // The nonce (id) each received seq carried, for diagnosing a mismatch.
  const std::map<int64_t, std::string>& received_ids() const { return received_ids_; }
  size_t pending() const { return pending_.size(); }
  int duplicated() const { return duplicated_; }
  int repeats() const { return repeats_; }
  int connects() const { return connects_; }
  // What happened to the member's sockets, one line each (for a failure's
  // diagnosis): each ready, whether it listed the channel, each close code.
  const std::vector<std::string>& history() const { return history_; }
  // Personal events (user_seq) received, in order, and the user_seqs that
  // did not follow the previous one.
  const std::vector<int64_t>& personal_received() const { return personal_received_; }
  const std::vector<int64_t>& personal_gaps() const { return personal_gaps_; }
  int64_t last_user_seq() const { return last_user_seq_; }
  void set_cursor(int64_t seq) {
    last_seq_ = seq;
    have_cursor_ = true;
  }

 private:
  void Reconnect();

  Stack& stack_;
  std::string user_;
  std::vector<int> ports_;
  size_t gw_ = 0;
  std::unique_ptr<WsClient> ws_;
  bool have_cursor_ = false;
  int64_t last_seq_ = 0;
  int64_t last_user_seq_ = 0;  // The personal stream's cursor.
  int64_t marked_ = 0;
  std::vector<int64_t> personal_received_, personal_gaps_;
  std::map<std::string, std::string> pending_;  // nonce -> text
  std::map<std::string, int64_t> acked_;
  std::vector<int64_t> received_, gaps_;
  std::map<int64_t, std::string> received_ids_;
  std::vector<std::string> history_;
  int repeats_ = 0, duplicated_ = 0, connects_ = 0;
  bool retry_ = false;
};

// ChatProcess runs the real chat_service binary on a fixed port against the
// stack's Redis, so a caller can kill it with SIGKILL and start it again.
class ChatProcess {
 public:
  ChatProcess(Stack& stack, int port);
  ~ChatProcess() { Kill(); }
  void Start();
  void Kill();
  int port() const { return port_; }

 private:
  Stack& stack_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace chat::testing

#endif  // CHATSUITE_TESTS_FAULT_CLIENTS_H_
