#include "gateway/channel_sequencer.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <map>
#include <vector>

namespace chat::gateway {
namespace {

// A channel's log that the fake Tail reads, a page of at most `page` at a time.
class SequencerTest : public ::testing::Test {
 protected:
  std::shared_ptr<const EncodedEvent> Live(int64_t seq) {
    ChatMessage m;
    m.set_server("demo");
    m.set_channel("general");
    m.set_seq(seq);
    m.set_message("live " + std::to_string(seq));
    return EncodedEvent::ForMessage("topic", std::move(m));
  }

  void Log(int64_t from, int64_t to) {
    for (int64_t s = from; s <= to; ++s) log_[s] = "logged " + std::to_string(s);
  }

  std::unique_ptr<ChannelSequencer> Make(int64_t last_seq = -1) {
    ChannelSequencer::Options options;
    options.retry_delay = absl::Milliseconds(1);
    options.max_attempts = 3;
    return std::make_unique<ChannelSequencer>(
        ioc_.get_executor(), "topic",
        [this](int64_t after, Done<TailPage> done) {
          fetches_.push_back(after);
          if (fail_next_ > 0) {
            --fail_next_;
            return done(absl::UnavailableError("chat service down"));
          }
          TailPage page;
          page.head_seq = log_.empty() ? 0 : log_.rbegin()->first;
          page.oldest_seq = log_.empty() ? 0 : log_.begin()->first;
          page.lost_from = lost_from_;
          page.lost_to = lost_to_;
          for (auto it = log_.upper_bound(after); it != log_.end() && page.events.size() < 2;
               ++it) {
            ChatMessage m;
            m.set_seq(it->first);
            m.set_message(it->second);
            page.events.push_back(EncodedEvent::ForMessage("topic", std::move(m)));
          }
          done(std::move(page));
        },
        [this](const std::shared_ptr<const EncodedEvent>& e) {
          out_.push_back(e->seq());
          text_.push_back(e->event().chat_message().message());
        },
        &metrics_, last_seq, options);
  }

  void Settle() {
    ioc_.restart();
    ioc_.run();
  }

  boost::asio::io_context ioc_;
  Metrics metrics_;
  std::map<int64_t, std::string> log_;
  std::vector<int64_t> fetches_;
  int fail_next_ = 0;
  int64_t lost_from_ = 0, lost_to_ = 0;  // The log's rollback record.
  std::vector<int64_t> out_;
  std::vector<std::string> text_;
};

TEST_F(SequencerTest, InOrderPassesStraightThrough) {
  auto seq = Make();
  for (int64_t s : {4, 5, 6}) seq->Offer(Live(s));
  EXPECT_EQ(out_, (std::vector<int64_t>{4, 5, 6}));
  EXPECT_TRUE(fetches_.empty());
  EXPECT_EQ(seq->last_seq(), 6);
}

TEST_F(SequencerTest, RepeatsAreDroppedAndCounted) {
  auto seq = Make();
  for (int64_t s : {1, 2, 2, 1, 3}) seq->Offer(Live(s));
  EXPECT_EQ(out_, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(metrics_.duplicate_events.load(), 2u);
}

TEST_F(SequencerTest, AGapIsFilledFromTheLogBeforeLaterMessages) {
  auto seq = Make();
  Log(1, 9);
  seq->Offer(Live(1));
  seq->Offer(Live(6));  // 2..5 were lost.
  EXPECT_TRUE(seq->filling());
  seq->Offer(Live(7));  // Held meanwhile.
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // 2..9 came from the log in pages of two, up to its head; the held live 6
  // and 7 were then repeats. Nothing passed twice.
  EXPECT_EQ(fetches_, (std::vector<int64_t>{1, 3, 5, 7}));
  EXPECT_EQ(text_[1], "logged 2");
  EXPECT_FALSE(seq->filling());
  seq->Offer(Live(10));
  EXPECT_EQ(out_.back(), 10);
}

TEST_F(SequencerTest, ALateSubscriptionCatchesUpFromItsHead) {
  // The session was told head 3; messages 4 and 5 were published before its
  // subscription went live, 6 arrives live.
  Log(1, 5);
  auto seq = Make(/*last_seq=*/3);
  seq->CatchUpFrom(3);
  seq->Offer(Live(6));
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(fetches_.front(), 3);
}

TEST_F(SequencerTest, CatchingUpWithNothingMissedPassesLiveOnes) {
  Log(1, 3);
  auto seq = Make(3);
  seq->CatchUpFrom(3);
  seq->Offer(Live(4));
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{4}));
}

TEST_F(SequencerTest, ResyncFillsWhatALostSubscriptionMissed) {
  auto seq = Make();
  seq->Resync();  // Nothing passed yet: nothing to fill from.
  EXPECT_TRUE(fetches_.empty());
  Log(1, 4);
  seq->Offer(Live(1));
  seq->Resync();
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST_F(SequencerTest, FailedReadsAreRetried) {
  auto seq = Make();
  Log(1, 3);
  seq->Offer(Live(1));
  fail_next_ = 2;
  seq->Offer(Live(3));
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(fetches_.size(), 3u);
}

TEST_F(SequencerTest, AGapTheLogCannotFillIsPassedOn) {
  auto seq = Make();
  seq->Offer(Live(1));
  fail_next_ = 100;  // Beyond max_attempts: give up, pass what is held.
  seq->Offer(Live(5));
  seq->Offer(Live(6));
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{1, 5, 6}));
  EXPECT_FALSE(seq->filling());
}

TEST_F(SequencerTest, DestroyedWhileFillingIsSafe) {
  auto seq = Make();
  Log(1, 3);
  seq->Offer(Live(1));
  seq->Offer(Live(3));
  seq.reset();  // The read's reply is still queued on the strand.
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{1}));
}

TEST_F(SequencerTest, CaughtUpRunsOnceTheFillHasEnded) {
  Log(1, 5);
  auto seq = Make(2);
  bool done = false;
  seq->CatchUpFrom(2, [&] { done = true; });
  EXPECT_FALSE(done);
  Settle();
  EXPECT_TRUE(done);
  EXPECT_EQ(out_, (std::vector<int64_t>{3, 4, 5}));
}

TEST_F(SequencerTest, ACursorOlderThanTheLogIsReportedAsLost) {
  Log(10, 12);  // 1..9 were trimmed.
  auto seq = Make(3);
  std::vector<ChannelSequencer::LostRange> lost;
  seq->SetLost([&](const ChannelSequencer::LostRange& r) { lost.push_back(r); });
  seq->CatchUpFrom(3);
  Settle();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].from, 4);
  EXPECT_EQ(lost[0].to, 9);
  EXPECT_FALSE(lost[0].rolled_back);
  EXPECT_EQ(out_, (std::vector<int64_t>{10, 11, 12}));
  EXPECT_EQ(metrics_.trimmed_gaps.load(), 1u);
}

// Redis restarted on an append-only file that missed its last writes: the
// log ends before seqs already passed on.
TEST_F(SequencerTest, ALogBehindTheLastPassedOnIsReportedRolledBack) {
  Log(1, 5);
  auto seq = Make(9);
  std::vector<ChannelSequencer::LostRange> lost;
  seq->SetLost([&](const ChannelSequencer::LostRange& r) { lost.push_back(r); });
  seq->CatchUpFrom(9);
  Settle();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].from, 6);
  EXPECT_EQ(lost[0].to, 9);
  EXPECT_TRUE(lost[0].rolled_back);
  EXPECT_EQ(metrics_.log_rollbacks.load(), 1u);
  // The service went on above what was handed out, and recorded the range:
  // 10 is next, no gap, and the record is not a second loss.
  log_[10] = "after the rollback";
  lost_from_ = 6;
  lost_to_ = 9;
  seq->Offer(Live(10));
  seq->Resync();
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{10}));
  EXPECT_EQ(lost.size(), 1u);
}

// After a Redis restart the sequencer refills from its last seq, which lies
// in the range the log records as lost: reported once, however often it
// reads the log again.
TEST_F(SequencerTest, TheLogsRollbackRecordIsReportedOnceToAStreamInsideIt) {
  Log(1, 2);
  log_[6] = "above the floor";
  lost_from_ = 3;
  lost_to_ = 5;
  auto seq = Make(4);
  std::vector<ChannelSequencer::LostRange> lost;
  seq->SetLost([&](const ChannelSequencer::LostRange& r) { lost.push_back(r); });
  seq->Resync();
  Settle();
  seq->Resync();
  Settle();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].from, 3);
  EXPECT_EQ(lost[0].to, 5);
  EXPECT_TRUE(lost[0].rolled_back);
  EXPECT_EQ(out_, (std::vector<int64_t>{6}));
}

// The seqs a rolled-back log skipped leave a hole: reported, not waited for.
TEST_F(SequencerTest, AHoleInTheLogIsReportedRolledBack) {
  Log(1, 3);
  log_[7] = "above the floor";
  auto seq = Make(1);
  std::vector<ChannelSequencer::LostRange> lost;
  seq->SetLost([&](const ChannelSequencer::LostRange& r) { lost.push_back(r); });
  seq->CatchUpFrom(1);
  Settle();
  EXPECT_EQ(out_, (std::vector<int64_t>{2, 3, 7}));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].from, 4);
  EXPECT_EQ(lost[0].to, 6);
  EXPECT_TRUE(lost[0].rolled_back);
}

}  // namespace
}  // namespace chat::gateway
