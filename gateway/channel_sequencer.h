// ChannelSequencer: the one gap-filling mechanism of the gateway. It passes a
// sequenced stream's events on in seq order, each exactly once: repeats are
// dropped, and a gap (an event missing between the last one passed on and one
// that arrives) is filled from the stream's log before anything later is
// passed on. A stream is a channel's chat messages (seq) or a user's personal
// events (user_seq). The topic registry keeps one per subscribed topic with
// sequenced traffic (pub/sub loses messages across reconnects); a session
// keeps one per stream it must catch up on: a channel joined or created after
// the head it was told, and every stream it resumes from a cursor.
#ifndef CHATSUITE_GATEWAY_CHANNEL_SEQUENCER_H_
#define CHATSUITE_GATEWAY_CHANNEL_SEQUENCER_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/async.h"
#include "common/fifo.h"
#include "gateway/encoded_event.h"
#include "gateway/metrics.h"
#include "proto/chat.pb.h"

namespace chat::gateway {

struct ChannelSequencerOptions {
  size_t max_held = 10000;  // Live messages held during a fill; beyond, dropped and counted.
  int max_attempts = 20;    // Failed log reads in a row before giving up on a gap.
  absl::Duration retry_delay = absl::Milliseconds(200);
};

class ChannelSequencer {
 public:
  // FetchTail reads the stream's log after a seq; done may run on any thread.
  using FetchTail = std::function<void(int64_t after, Done<TailPage> done)>;
  // LostRange: events from..to will never be passed on. Trimmed: older than
  // the log retains (the stream continues at to + 1). Rolled back: Redis lost
  // them after they were handed out (the log is behind a seq already passed
  // on or named by a cursor, or has a hole where the service skipped them).
  struct LostRange {
    int64_t from = 0;
    int64_t to = 0;
    bool rolled_back = false;
  };
  // Lost is told of each range of events that will never be passed on.
  using Lost = std::function<void(const LostRange&)>;
  // Emit receives each message passed on, in seq order.
  using Emit = std::function<void(const std::shared_ptr<const EncodedEvent>&)>;

  using Options = ChannelSequencerOptions;

  // strand runs every call, every Emit and every fill step. last_seq: the
  // last seq already passed on (-1: none yet; the first message then passes
  // whatever its seq). metrics may be null.
  ChannelSequencer(boost::asio::any_io_executor strand, std::string topic, FetchTail fetch,
                   Emit emit, Metrics* metrics, int64_t last_seq = -1, Options options = Options());
  ~ChannelSequencer();
  ChannelSequencer(const ChannelSequencer&) = delete;
  ChannelSequencer& operator=(const ChannelSequencer&) = delete;

  // Offer takes one live chat message: passes it on, holds it while a fill is
  // under way, drops it as a repeat, or starts a fill when it leaves a gap.
  void Offer(std::shared_ptr<const EncodedEvent> event);
  // CatchUpFrom: every event after `after` is wanted. Reads them from the
  // log (unless a fill is already under way) before passing later ones on;
  // caught_up (may be null) runs once that fill has ended.
  void CatchUpFrom(int64_t after, absl::AnyInvocable<void()> caught_up = nullptr);
  // SetLost installs the handler of events lost before they were passed on
  // (default: logged and counted only).
  void SetLost(Lost lost) { lost_ = std::move(lost); }
  // Resync: messages may have been missed (the subscription was down): fill
  // from the last one passed on. No-op before the first or during a fill.
  void Resync();

  int64_t last_seq() const { return last_seq_; }
  bool filling() const { return filling_; }

 private:
  void Fill();
  void OnTail(absl::StatusOr<TailPage> tail);
  void Drain();
  void Pass(const std::shared_ptr<const EncodedEvent>& event);
  void Report(const LostRange& range);

  boost::asio::any_io_executor strand_;
  std::string topic_;
  FetchTail fetch_;
  Emit emit_;
  Lost lost_;
  std::vector<absl::AnyInvocable<void()>> caught_up_;  // Run when the fill ends.
  Metrics* metrics_;
  Options options_;
  int64_t last_seq_;
  bool filling_ = false;  // A log read is under way; live messages wait in held_.
  int attempts_ = 0;      // Failed log reads in a row.
  int64_t reported_from_ = 0, reported_to_ = 0;     // The lost range last reported.
  Fifo<std::shared_ptr<const EncodedEvent>> held_;  // No memory while empty.
  boost::asio::steady_timer retry_timer_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // Expires with this object.
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_CHANNEL_SEQUENCER_H_
