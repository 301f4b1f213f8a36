#include "gateway/delivery_watch.h"

#include <gtest/gtest.h>

#include <string>

namespace chat::gateway {
namespace {

using Outcome = WatermarkVerdict::Outcome;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(DeliveryWatchTest, AClientLevelWithTheHeadIsCurrentAndOneShortOfItIsBehind) {
  DeliveryWatch watch(absl::Seconds(5), 10);
  WatermarkVerdict v = watch.Report("c", 10, 10, kT0);
  EXPECT_EQ(v.outcome, Outcome::kCurrent);
  EXPECT_EQ(v.lag, 0);
  v = watch.Report("c", 10, 13, kT0 + absl::Seconds(1));
  EXPECT_EQ(v.outcome, Outcome::kBehind);  // Recent: in flight.
  EXPECT_EQ(v.lag, 3);
  // Ahead of what the gateway knows (history read elsewhere): no lag.
  EXPECT_EQ(watch.Report("c", 20, 13, kT0 + absl::Seconds(2)).lag, 0);
}

TEST(DeliveryWatchTest, AHeadKnownAGracePeriodAgoAndStillMissingIsStalled) {
  DeliveryWatch watch(absl::Seconds(5), 10);
  watch.Report("c", 10, 12, kT0);  // The mark: head 12 known at t0.
  // Within the grace period nothing is lost yet, whatever the lag.
  EXPECT_EQ(watch.Report("c", 10, 15, kT0 + absl::Seconds(4)).outcome, Outcome::kBehind);
  WatermarkVerdict v = watch.Report("c", 10, 15, kT0 + absl::Seconds(5));
  EXPECT_EQ(v.outcome, Outcome::kStalled);
  EXPECT_EQ(v.missing_from, 11);
  EXPECT_EQ(v.missing_to, 12);  // Only what was known at the mark counts as lost.
  EXPECT_EQ(v.lag, 5);
  // The mark moved to (15, t0+5): not stalled again before another grace
  // period, so a refill has time to arrive.
  EXPECT_EQ(watch.Report("c", 10, 15, kT0 + absl::Seconds(9)).outcome, Outcome::kBehind);
  v = watch.Report("c", 10, 15, kT0 + absl::Seconds(10));
  EXPECT_EQ(v.outcome, Outcome::kStalled);
  EXPECT_EQ(v.missing_to, 15);
}

TEST(DeliveryWatchTest, AClientThatCaughtUpWithTheMarkIsNotStalled) {
  DeliveryWatch watch(absl::Seconds(5), 10);
  watch.Report("c", 10, 12, kT0);
  // Still behind the newest head, but it holds everything known at the mark.
  WatermarkVerdict v = watch.Report("c", 12, 20, kT0 + absl::Seconds(6));
  EXPECT_EQ(v.outcome, Outcome::kBehind);
  EXPECT_EQ(v.lag, 8);
}

TEST(DeliveryWatchTest, StreamsAreJudgedApartAndRestartForgetsWhatWasMissing) {
  DeliveryWatch watch(absl::Seconds(5), 10);
  watch.Report("a", 1, 5, kT0);
  watch.Report("b", 5, 5, kT0);
  watch.Restart("a", 5, kT0 + absl::Seconds(4));  // Re-read from the log.
  EXPECT_EQ(watch.Report("a", 1, 5, kT0 + absl::Seconds(6)).outcome, Outcome::kBehind);
  EXPECT_EQ(watch.Report("b", 5, 5, kT0 + absl::Seconds(6)).outcome, Outcome::kCurrent);
  EXPECT_EQ(watch.Report("a", 1, 5, kT0 + absl::Seconds(9)).outcome, Outcome::kStalled);
}

TEST(DeliveryWatchTest, StreamsBeyondTheBoundAreJudgedOnLagAlone) {
  DeliveryWatch watch(absl::Seconds(5), 2);
  watch.Report("a", 0, 3, kT0);
  watch.Report("b", 0, 3, kT0);
  watch.Report("c", 0, 3, kT0);
  EXPECT_EQ(watch.streams(), 2u);
  WatermarkVerdict v = watch.Report("c", 0, 3, kT0 + absl::Seconds(10));
  EXPECT_EQ(v.outcome, Outcome::kBehind);
  EXPECT_EQ(v.lag, 3);
  EXPECT_EQ(watch.Report("a", 0, 3, kT0 + absl::Seconds(10)).outcome, Outcome::kStalled);
}

TEST(DeliveryWatchTest, AWatermarkBelowTheFloorOrAnEarlierOneCountsAsThat) {
  DeliveryWatch watch(absl::Seconds(5), 10);
  watch.SetFloor("c", 100);  // Joined at head 100: nothing before is owed.
  EXPECT_EQ(watch.Report("c", 0, 105, kT0).lag, 5);
  WatermarkVerdict v = watch.Report("c", 0, 105, kT0 + absl::Seconds(6));
  EXPECT_EQ(v.outcome, Outcome::kStalled);
  EXPECT_EQ(v.missing_from, 101);
  EXPECT_EQ(v.missing_to, 105);
  EXPECT_EQ(watch.Report("c", 103, 105, kT0 + absl::Seconds(7)).outcome, Outcome::kBehind);
  // Going back below what it reported holding does not ask for more.
  v = watch.Report("c", 50, 105, kT0 + absl::Seconds(12));
  EXPECT_EQ(v.outcome, Outcome::kStalled);
  EXPECT_EQ(v.missing_from, 104);
  EXPECT_EQ(v.lag, 2);
}

TEST(DeliveryWatchTest, ABoundOfZeroWatchesEveryStream) {
  DeliveryWatch watch(absl::Seconds(5), 0);
  for (int i = 0; i < 100; ++i) watch.Report(std::to_string(i), 0, 3, kT0);
  EXPECT_EQ(watch.streams(), 100u);
  EXPECT_EQ(watch.Report("99", 0, 3, kT0 + absl::Seconds(5)).outcome, Outcome::kStalled);
}

WatermarkVerdict Stalled(int64_t from, int64_t to) {
  WatermarkVerdict v;
  v.outcome = Outcome::kStalled;
  v.missing_from = from;
  v.missing_to = to;
  v.lag = to - from + 1;
  return v;
}

TEST(DeliveryStatsTest, RendersOutcomesLagAndLossPerChannel) {
  DeliveryStats stats;
  WatermarkVerdict current;
  WatermarkVerdict behind;
  behind.outcome = Outcome::kBehind;
  behind.lag = 3;
  stats.RecordChannel("demo/general", current, kT0);
  stats.RecordChannel("demo/general", behind, kT0);
  stats.RecordChannel("demo/random", Stalled(4, 6), kT0);
  stats.RecordPersonal(current);
  stats.CountUnknown();
  stats.CountRefill(false);
  EXPECT_EQ(stats.reports(false, Outcome::kCurrent), 1u);
  EXPECT_EQ(stats.reports(false, Outcome::kStalled), 1u);
  EXPECT_EQ(stats.reports(true, Outcome::kCurrent), 1u);
  EXPECT_EQ(stats.lost_events(), 3u);
  std::string out;
  stats.Render(&out, kT0);
  for (const char* line : {
           "chat_gateway_watermark_reports_total{stream=\"channel\",outcome=\"current\"} 1\n",
           "chat_gateway_watermark_reports_total{stream=\"channel\",outcome=\"behind\"} 1\n",
           "chat_gateway_watermark_reports_total{stream=\"channel\",outcome=\"stalled\"} 1\n",
           "chat_gateway_watermark_reports_total{stream=\"personal\",outcome=\"current\"} 1\n",
           "chat_gateway_watermark_reports_total{stream=\"channel\",outcome=\"unknown\"} 1\n",
           "chat_gateway_delivery_lag_events_bucket{le=\"0\"} 2\n",
           "chat_gateway_delivery_lag_events_bucket{le=\"2\"} 2\n",
           "chat_gateway_delivery_lag_events_bucket{le=\"5\"} 4\n",
           "chat_gateway_delivery_lag_events_bucket{le=\"+Inf\"} 4\n",
           "chat_gateway_delivery_lag_events_sum 6\n",
           "chat_gateway_delivery_lag_events_count 4\n",
           "chat_gateway_delivery_lost_events_total 3\n",
           "chat_gateway_delivery_refills_total{scope=\"session\"} 1\n",
           "chat_gateway_channel_delivery_lag_events{channel=\"demo/general\"} 3\n",
           "chat_gateway_channel_delivery_lag_events{channel=\"demo/random\"} 3\n",
           "chat_gateway_channel_lost_events_total{channel=\"demo/random\"} 3\n",
       }) {
    EXPECT_NE(out.find(line), std::string::npos) << line << "\nin:\n" << out;
  }
  EXPECT_EQ(out.find("chat_gateway_channel_lost_events_total{channel=\"demo/general\"}"),
            std::string::npos);
}

TEST(DeliveryStatsTest, TheLagGaugeIsTheLargestOfItsWindow) {
  DeliveryStats stats(10, absl::Minutes(5), absl::Minutes(1));
  WatermarkVerdict v;
  v.outcome = Outcome::kBehind;
  v.lag = 9;
  stats.RecordChannel("s/c", v, kT0);
  v.lag = 2;
  stats.RecordChannel("s/c", v, kT0 + absl::Seconds(30));
  std::string out;
  stats.Render(&out, kT0 + absl::Seconds(30));
  EXPECT_NE(out.find("chat_gateway_channel_delivery_lag_events{channel=\"s/c\"} 9\n"),
            std::string::npos);
  stats.RecordChannel("s/c", v, kT0 + absl::Seconds(61));  // A new window.
  out.clear();
  stats.Render(&out, kT0 + absl::Seconds(61));
  EXPECT_NE(out.find("chat_gateway_channel_delivery_lag_events{channel=\"s/c\"} 2\n"),
            std::string::npos);
  // Not reported for longer than idle_after: gone from the gauge.
  out.clear();
  stats.Render(&out, kT0 + absl::Minutes(7));
  EXPECT_EQ(out.find("channel=\"s/c\""), std::string::npos);
}

TEST(DeliveryStatsTest, TheChannelTableIsBoundedAndNeverForgetsALoss) {
  DeliveryStats stats(2, absl::Minutes(5), absl::Minutes(1));
  WatermarkVerdict current;
  stats.RecordChannel("s/lossy", Stalled(1, 2), kT0);
  stats.RecordChannel("s/idle", current, kT0);
  // Full: a third channel's loss goes to _other.
  stats.RecordChannel("s/third", Stalled(5, 5), kT0 + absl::Seconds(1));
  std::string out;
  stats.Render(&out, kT0 + absl::Seconds(1));
  EXPECT_NE(out.find("chat_gateway_channel_lost_events_total{channel=\"_other\"} 1\n"),
            std::string::npos)
      << out;
  // Later the idle channel makes room; the lossy one keeps its count.
  stats.RecordChannel("s/fourth", current, kT0 + absl::Minutes(6));
  out.clear();
  stats.Render(&out, kT0 + absl::Minutes(6));
  EXPECT_NE(out.find("chat_gateway_channel_lost_events_total{channel=\"s/lossy\"} 2\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("chat_gateway_channel_delivery_lag_events{channel=\"s/fourth\"} 0\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("channel=\"s/idle\""), std::string::npos);
}

}  // namespace
}  // namespace chat::gateway
