// chaos: minutes of steady chat traffic through two real gateway processes
// while faults strike at random (a gateway killed with SIGKILL or drained
// with SIGTERM and started again, Redis killed and restarted on its
// append-only file, the chat service killed and started again). The members
// behave as the protocol asks (tests/fault_clients.h). At the end it waits
// for every message to be acknowledged and delivered, then prints the
// counts on one line; exit status 1 if any acknowledged message was lost,
// stored twice or delivered out of order.
//   bazel run -c opt //bench:chaos -- --duration_s=180 --seed=7
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/fault_clients.h"
#include "tests/harness.h"

ABSL_FLAG(int32_t, duration_s, 120, "seconds of traffic with faults");
ABSL_FLAG(uint32_t, seed, 0, "random seed (0: from the clock); printed for a rerun");
ABSL_FLAG(int32_t, members, 6, "connected members of demo/general");
ABSL_FLAG(int32_t, senders, 2, "how many of the members send");
ABSL_FLAG(int32_t, rate, 20, "messages per second per sender");
ABSL_FLAG(int32_t, fault_every_s, 8, "mean seconds between faults (uniform 0.5x..1.5x)");

namespace chat::testing {
namespace {

enum Fault { kKillGateway, kDrainGateway, kKillRedis, kKillChatService, kFaultKinds };
const char* const kFaultNames[] = {"kill_gateway", "drain_gateway", "kill_redis", "kill_chat"};

int Run() {
  uint32_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint32_t>(absl::ToUnixNanos(absl::Now()));
  std::mt19937 rng(seed);
  Stack stack(0);
  stack.redis().set_appendonly(true);
  if (absl::Status s = stack.Start(); !s.ok()) {
    std::cerr << "stack: " << s << "\n";
    return 2;
  }
  ChatProcess chat(stack, FreePort());
  const std::vector<std::string> flags = {"--chat_rate=1000", "--chat_burst=1000",
                                          "--frame_rate=1000", "--frame_burst=1000",
                                          absl::StrCat("--chat=127.0.0.1:", chat.port())};
  GatewayProcess gw0(stack, flags), gw1(stack, flags);
  GatewayProcess* gateways[] = {&gw0, &gw1};
  const std::vector<int> ports = {gw0.port(), gw1.port()};

  const int n = absl::GetFlag(FLAGS_members);
  std::vector<std::unique_ptr<Member>> members;
  for (int i = 0; i < n; ++i) {
    const std::string user = absl::StrCat("chaos-", i);
    if (absl::Status s = stack.AddUser(user); !s.ok()) {
      std::cerr << "add " << user << ": " << s << "\n";
      return 2;
    }
    // Spread the members over both gateways.
    std::vector<int> order = ports;
    if (i % 2 == 1) std::swap(order[0], order[1]);
    members.push_back(std::make_unique<Member>(stack, user, order));
  }
  for (int tries = 0; tries < 200; ++tries) {
    bool all = true;
    for (auto& m : members) all = (m->connected() || m->Connect()) && all;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int senders = std::min(absl::GetFlag(FLAGS_senders), n);
  const absl::Duration interval = absl::Seconds(1) / absl::GetFlag(FLAGS_rate);
  const absl::Duration mean_fault = absl::Seconds(absl::GetFlag(FLAGS_fault_every_s));
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  std::map<std::string, int> faults;
  int sent = 0;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(absl::GetFlag(FLAGS_duration_s));
  absl::Time next_fault = start + mean_fault * jitter(rng);
  absl::Time next_send = start;
  while (absl::Now() < end) {
    if (absl::Now() >= next_fault) {
      const Fault f = static_cast<Fault>(rng() % kFaultKinds);
      GatewayProcess* g = gateways[rng() % 2];
      switch (f) {
        case kKillGateway:
          g->Kill();
          break;
        case kDrainGateway:
          (void)g->Terminate(absl::Seconds(15));
          g->Kill();  // If the drain overran.
          break;
        case kKillRedis:
          stack.redis().Stop(/*hard=*/true);
          if (!stack.redis().Start().ok()) return 2;
          break;
        case kKillChatService:
          chat.Kill();
          chat.Start();
          break;
        default:
          break;
      }
      if (f == kKillGateway || f == kDrainGateway) g->Start();  // Same port, fresh process.
      ++faults[kFaultNames[f]];
      std::cerr << "t=" << absl::ToInt64Seconds(absl::Now() - start) << "s fault " << kFaultNames[f]
                << "\n";
      next_fault = absl::Now() + mean_fault * jitter(rng);
    }
    if (absl::Now() >= next_send) {
      for (int s = 0; s < senders; ++s) members[s]->Send(absl::StrCat("c", s, "-", sent));
      ++sent;
      next_send += interval;
    }
    for (auto& m : members) m->Pump(absl::Milliseconds(1));
    if (sent % 20 == 0) {
      for (int s = 0; s < senders; ++s) members[s]->ResendIfAsked();
    }
  }
  // Settle: every message acknowledged and delivered to every member.
  std::set<int64_t> acked;
  auto settled = [&] {
    acked.clear();
    for (int s = 0; s < senders; ++s) {
      if (members[s]->pending() > 0) return false;
      for (const auto& [nonce, seq] : members[s]->acked()) acked.insert(seq);
    }
    for (auto& m : members) {
      if (m->received().size() < acked.size()) return false;
    }
    return true;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!settled() && absl::Now() < deadline) {
    for (int s = 0; s < senders; ++s) members[s]->ResendIfAsked();
    for (auto& m : members) m->Pump(absl::Milliseconds(20));
  }
  size_t unacked = 0, acked_nonces = 0;
  int duplicated = 0;
  for (int s = 0; s < senders; ++s) {
    unacked += members[s]->pending();
    acked_nonces += members[s]->acked().size();
    duplicated += members[s]->duplicated();
  }
  size_t lost = 0, extra = 0, out_of_order = 0, connects = 0, repeats = 0;
  for (auto& m : members) {
    std::set<int64_t> got(m->received().begin(), m->received().end());
    for (int64_t seq : acked) lost += got.count(seq) == 0 ? 1 : 0;
    for (int64_t seq : got) extra += acked.count(seq) == 0 ? 1 : 0;
    out_of_order += m->gaps().size();
    connects += static_cast<size_t>(m->connects());
    repeats += static_cast<size_t>(m->repeats());
  }
  std::string fault_list;
  int fault_total = 0;
  for (const auto& [name, count] : faults) {
    absl::StrAppend(&fault_list, " ", name, "=", count);
    fault_total += count;
  }
  std::cout << "chaos: seed=" << seed << " duration_s=" << absl::GetFlag(FLAGS_duration_s)
            << " members=" << n << " senders=" << senders << " faults=" << fault_total << fault_list
            << " sent=" << sent * senders << " acked=" << acked_nonces << " unacked=" << unacked
            << " stored_twice=" << duplicated << " distinct_seqs=" << acked.size()
            << " deliveries=" << acked.size() * n << " lost=" << lost << " unexpected=" << extra
            << " out_of_order=" << out_of_order << " repeats_dropped_by_client=" << repeats
            << " connects=" << connects << "\n";
  const bool ok = unacked == 0 && duplicated == 0 && lost == 0 && out_of_order == 0 &&
                  acked.size() == acked_nonces;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace chat::testing

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // The harness finds the binaries in the runfiles, as under bazel test.
  if (std::getenv("TEST_SRCDIR") == nullptr) {
    const std::string runfiles = absl::StrCat(argv[0], ".runfiles");
    setenv("TEST_SRCDIR", runfiles.c_str(), 1);
  }
  return chat::testing::Run();
}
