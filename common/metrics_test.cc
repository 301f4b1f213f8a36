#include "common/metrics.h"

#include <boost/asio/io_context.hpp>

#include "absl/strings/str_cat.h"
#include "common/metrics_server.h"
#include "gtest/gtest.h"

namespace chat::metrics {
namespace {

TEST(LatencyHistogramTest, BucketsAreCumulativeInSeconds) {
  LatencyHistogram h;
  h.Observe(0.2);
  h.Observe(3);
  h.Observe(20000);
  std::string out;
  h.Render("x_seconds", "help", &out);
  EXPECT_NE(out.find("# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.005\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"10\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count 3\n"), std::string::npos) << out;
}

TEST(LatencyHistogramTest, LabelledSamplesKeepLabelsBeforeLe) {
  LatencyHistogram h;
  h.Observe(1);
  std::string out;
  h.RenderSamples("x", "method=\"/a/B\"", &out);
  EXPECT_NE(out.find("x_bucket{method=\"/a/B\",le=\"0.001\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_count{method=\"/a/B\"} 1\n"), std::string::npos) << out;
}

TEST(LabeledCounterTest, SortedAndEscaped) {
  LabeledCounter c;
  c.Inc("b");
  c.Inc("a\"\\\n", 2);
  std::string out;
  c.Render("n_total", "code", "help", &out);
  EXPECT_NE(out.find("n_total{code=\"a\\\"\\\\\\n\"} 2\nn_total{code=\"b\"} 1\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(c.Get("b"), 1u);
  EXPECT_EQ(c.Get("zzz"), 0u);
}

TEST(RpcMetricsTest, CountsByMethodAndCode) {
  RpcMetrics m("server");
  m.For("/p.S/A")->Record(0, absl::Milliseconds(1));
  m.For("/p.S/A")->Record(14, absl::Milliseconds(2));
  m.For("/p.S/A")->Record(99, absl::Milliseconds(2));  // Out of range: UNKNOWN.
  EXPECT_EQ(m.For("/p.S/A"), m.For("/p.S/A"));
  EXPECT_EQ(m.Handled("/p.S/A", 14), 1u);
  EXPECT_EQ(m.Handled("/p.S/A", 2), 1u);
  std::string out;
  m.Render(&out);
  EXPECT_NE(out.find("chat_grpc_server_handled_total{method=\"/p.S/A\",code=\"OK\"} 1\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("chat_grpc_server_handled_total{method=\"/p.S/A\",code=\"UNAVAILABLE\"} 1\n"),
            std::string::npos);
  // Codes never seen are left out (OK is always there).
  EXPECT_EQ(out.find("code=\"NOT_FOUND\""), std::string::npos);
  EXPECT_NE(out.find("chat_grpc_server_latency_seconds_count{method=\"/p.S/A\"} 3\n"),
            std::string::npos);
}

// A client call can finish after its owner (and its RpcMetrics) shut down:
// its counters must still be there (ASan, which runs every test, fails a
// use after free here).
TEST(RpcMetricsTest, AMethodsCountersOutliveTheRpcMetrics) {
  std::shared_ptr<RpcMetrics::Method> method;
  {
    RpcMetrics metrics("client");
    method = metrics.For("/p.S/A");
  }
  method->Record(0, absl::Milliseconds(1));
}

TEST(MetricsServerTest, ListenRefusesBadAddressesAndPicksAPortForZero) {
  boost::asio::io_context ioc;
  auto render = [] { return std::string(); };
  for (const char* bad : {"nope", "127.0.0.1", "127.0.0.1:70000", "localhost:0", ":0"}) {
    auto server = std::make_shared<MetricsServer>(ioc.get_executor(), render);
    EXPECT_EQ(server->Listen(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  auto server = std::make_shared<MetricsServer>(ioc.get_executor(), render);
  ASSERT_TRUE(server->Listen("127.0.0.1:0").ok());
  EXPECT_GT(server->port(), 0);
  auto taken = std::make_shared<MetricsServer>(ioc.get_executor(), render);
  EXPECT_EQ(taken->Listen(absl::StrCat("127.0.0.1:", server->port())).code(),
            absl::StatusCode::kUnavailable);
  server->Stop();
  taken->Stop();
  ioc.run();
}

}  // namespace
}  // namespace chat::metrics
