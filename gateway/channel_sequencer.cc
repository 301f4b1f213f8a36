#include "gateway/channel_sequencer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

namespace chat::gateway {

ChannelSequencer::ChannelSequencer(boost::asio::any_io_executor strand, std::string topic,
                                   FetchTail fetch, Emit emit, Metrics* metrics, int64_t last_seq,
                                   Options options)
    : strand_(strand),
      topic_(std::move(topic)),
      fetch_(std::move(fetch)),
      emit_(std::move(emit)),
      metrics_(metrics),
      options_(options),
      last_seq_(last_seq),
      retry_timer_(strand) {}

ChannelSequencer::~ChannelSequencer() = default;

void ChannelSequencer::Offer(std::shared_ptr<const EncodedEvent> event) {
  const int64_t seq = event->seq();
  if (filling_) {
    if (held_.size() < options_.max_held) {
      held_.push_back(std::move(event));
    } else if (metrics_ != nullptr) {
      metrics_->dropped_events.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (last_seq_ >= 0 && seq <= last_seq_) {  // Already passed on.
    if (metrics_ != nullptr) metrics_->duplicate_events.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (last_seq_ >= 0 && seq > last_seq_ + 1) {
    filling_ = true;
    held_.push_back(std::move(event));
    return Fill();
  }
  Pass(event);
}

void ChannelSequencer::CatchUpFrom(int64_t after, absl::AnyInvocable<void()> caught_up) {
  if (after > last_seq_) last_seq_ = after;
  if (caught_up != nullptr) caught_up_.push_back(std::move(caught_up));
  if (filling_) return;  // The fill under way reads up to the head.
  filling_ = true;
  Fill();
}

void ChannelSequencer::Resync() {
  if (last_seq_ < 0 || filling_) return;
  filling_ = true;
  Fill();
}

void ChannelSequencer::Fill() {
  if (metrics_ != nullptr) metrics_->gap_fills.fetch_add(1, std::memory_order_relaxed);
  fetch_(std::max<int64_t>(last_seq_, 0),
         [this, strand = strand_,
          alive = std::weak_ptr<int>(alive_)](absl::StatusOr<TailPage> tail) mutable {
           boost::asio::post(strand, [this, alive, tail = std::move(tail)]() mutable {
             if (!alive.expired()) OnTail(std::move(tail));
           });
         });
}

void ChannelSequencer::OnTail(absl::StatusOr<TailPage> tail) {
  if (!tail.ok()) {
    if (++attempts_ < options_.max_attempts) {
      retry_timer_.expires_after(absl::ToChronoNanoseconds(options_.retry_delay));
      retry_timer_.async_wait(
          [this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
            if (!ec && !alive.expired()) Fill();
          });
      return;
    }
    spdlog::error("event=gap_fill_failed topic={} error=\"{}\"", topic_,
                  std::string(tail.status().message()));
    attempts_ = 0;
    last_seq_ = -1;  // Start over from whatever is held or arrives next.
    return Drain();
  }
  attempts_ = 0;
  // The oldest seq the log still holds; an empty log holds nothing up to its head.
  const int64_t oldest = tail->oldest_seq > 0 ? tail->oldest_seq : tail->head_seq + 1;
  // The log's record of the last range Redis lost: told once to a stream
  // whose position lies in it (it passed some of those events on, or its
  // cursor names one).
  if (tail->lost_to > reported_to_ && last_seq_ >= tail->lost_from && last_seq_ <= tail->lost_to) {
    reported_from_ = tail->lost_from;
    reported_to_ = tail->lost_to;
    Report({tail->lost_from, tail->lost_to, true});
  }
  if (last_seq_ > tail->head_seq) {
    // The log is behind what was passed on (or named by a cursor): Redis
    // lost acknowledged events. Say so; the services continue the log above
    // what they and the gateways saw, so what comes next is above last_seq_.
    // The first append after the loss records this same range: not again.
    reported_from_ = tail->head_seq + 1;
    reported_to_ = last_seq_;
    Report({reported_from_, reported_to_, true});
  }
  if (last_seq_ >= 0 && oldest > last_seq_ + 1 && tail->head_seq > last_seq_) {
    // What lies between was trimmed: say so, and go on from what is kept.
    Report({last_seq_ + 1, oldest - 1, false});
    last_seq_ = oldest - 1;
  }
  for (std::shared_ptr<const EncodedEvent>& e : tail->events) {
    if (e->seq() <= last_seq_) continue;
    // Seqs are consecutive in a log but for those a rolled-back log skipped.
    if (last_seq_ >= 0 && e->seq() > last_seq_ + 1 &&
        !(last_seq_ + 1 >= reported_from_ && e->seq() - 1 <= reported_to_)) {
      Report({last_seq_ + 1, e->seq() - 1, true});
    }
    Pass(e);
  }
  if (!tail->events.empty() && last_seq_ < tail->head_seq) return Fill();
  Drain();
}

void ChannelSequencer::Drain() {
  while (!held_.empty()) {
    std::shared_ptr<const EncodedEvent> e = std::move(held_.front());
    held_.pop_front();
    const int64_t seq = e->seq();
    if (last_seq_ >= 0 && seq <= last_seq_) continue;
    if (last_seq_ >= 0 && seq > last_seq_ + 1) {
      // The log did not have what lies between (trimmed): pass the gap on;
      // clients see it in the seqs and page history themselves.
      spdlog::warn("event=gap_unfilled topic={} from={} to={}", topic_, last_seq_ + 1, seq - 1);
    }
    Pass(e);
  }
  filling_ = false;
  std::vector<absl::AnyInvocable<void()>> done;
  done.swap(caught_up_);
  for (auto& f : done) f();
}

void ChannelSequencer::Report(const LostRange& range) {
  spdlog::warn("event={} topic={} from={} to={}",
               range.rolled_back ? "stream_rolled_back" : "stream_trimmed", topic_, range.from,
               range.to);
  if (metrics_ != nullptr) {
    (range.rolled_back ? metrics_->log_rollbacks : metrics_->trimmed_gaps)
        .fetch_add(1, std::memory_order_relaxed);
  }
  if (lost_) lost_(range);
}

void ChannelSequencer::Pass(const std::shared_ptr<const EncodedEvent>& event) {
  last_seq_ = event->seq();
  emit_(event);
}

}  // namespace chat::gateway
