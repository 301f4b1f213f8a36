#include "common/redis_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/redis_subscriber.h"
#include "common/redis_test_server.h"

namespace chat::redis {
namespace {

const bool kIgnoreSigpipe = [] {
  signal(SIGPIPE, SIG_IGN);  // hiredis writes with write(2).
  return true;
}();

namespace asio = boost::asio;

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    thread_ = std::thread([this] { ioc_.run(); });
    Options options;
    options.port = server_.port();
    options.reconnect_delay = absl::Milliseconds(20);
    client_ = std::make_shared<RedisClient>(ioc_.get_executor(), options);
    client_->Start();
    ASSERT_TRUE(WaitFor([&] { return client_->connected(); }));
  }
  void TearDown() override {
    client_->Stop();
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  absl::StatusOr<Reply> Run(std::vector<std::string> args) {
    std::promise<absl::StatusOr<Reply>> done;
    client_->Command(std::move(args),
                     [&](absl::StatusOr<Reply> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  // Awaits a condition that becomes true through another thread's work.
  static bool WaitFor(const std::function<bool()>& cond) {
    for (int i = 0; i < 2000; ++i) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  chat::testing::RedisTestServer server_;
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      ioc_.get_executor()};
  std::thread thread_;
  std::shared_ptr<RedisClient> client_;
};

TEST_F(RedisClientTest, CommandsAndReplyTypes) {
  auto set = Run({"SET", "k", std::string("a\0b", 3)});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->type, Reply::Type::kStatus);
  auto get = Run({"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->str, std::string("a\0b", 3));
  auto nil = Run({"GET", "missing"});
  ASSERT_TRUE(nil.ok());
  EXPECT_TRUE(nil->is_nil());
  auto incr = Run({"INCR", "n"});
  ASSERT_TRUE(incr.ok());
  EXPECT_EQ(incr->integer, 1);
  ASSERT_TRUE(Run({"RPUSH", "l", "x", "y"}).ok());
  auto range = Run({"LRANGE", "l", "0", "-1"});
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->elements.size(), 2u);
  EXPECT_EQ(range->elements[1].str, "y");
  auto err = Run({"INCR", "k"});
  EXPECT_EQ(err.status().code(), absl::StatusCode::kInternal);
}

TEST_F(RedisClientTest, PipelinesManyCommandsInOrder) {
  constexpr int kCount = 5000;
  std::vector<int64_t> results;
  std::promise<void> done;
  for (int i = 0; i < kCount; ++i) {
    client_->Command({"INCR", "counter"}, [&](absl::StatusOr<Reply> r) {
      results.push_back(r.ok() ? r->integer : -1);  // Callbacks run on one strand.
      if (results.size() == kCount) done.set_value();
    });
  }
  done.get_future().wait();
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(results[i], i + 1);
}

TEST_F(RedisClientTest, ReconnectsAfterServerRestart) {
  ASSERT_TRUE(Run({"SET", "a", "1"}).ok());
  server_.Stop(/*hard=*/true);
  ASSERT_TRUE(WaitFor([&] { return !client_->connected(); }));
  EXPECT_EQ(Run({"GET", "a"}).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(server_.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return client_->connected(); }));
  EXPECT_TRUE(Run({"PING"}).ok());
}

TEST_F(RedisClientTest, SubscriberReceivesAndResubscribes) {
  std::mutex mu;
  std::vector<std::string> got;
  int resubscribed = 0;
  Options options;
  options.port = server_.port();
  options.reconnect_delay = absl::Milliseconds(20);
  auto sub = std::make_shared<RedisSubscriber>(
      ioc_.get_executor(), options,
      [&](const std::string& topic, std::string payload) {
        std::lock_guard<std::mutex> l(mu);
        got.push_back(topic + "=" + payload);
      },
      [&] {
        std::lock_guard<std::mutex> l(mu);
        ++resubscribed;
      });
  sub->Start();
  sub->Subscribe("t1");
  sub->Subscribe("t2");
  // SPUBLISH returns the number of receivers: wait until both subscriptions hold.
  ASSERT_TRUE(WaitFor([&] { return Run({"SPUBLISH", "t2", "x"})->integer == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Run({"SPUBLISH", "t1", "hello"})->integer == 1; }));
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(mu);
    return std::find(got.begin(), got.end(), "t1=hello") != got.end();
  }));
  sub->Unsubscribe("t2");
  ASSERT_TRUE(WaitFor([&] { return Run({"SPUBLISH", "t2", "y"})->integer == 0; }));

  server_.Stop(/*hard=*/true);
  ASSERT_TRUE(server_.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return client_->connected() && sub->connected(); }));
  ASSERT_TRUE(WaitFor([&] { return Run({"SPUBLISH", "t1", "again"}).value().integer == 1; }));
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(mu);
    return resubscribed == 1 && std::find(got.begin(), got.end(), "t1=again") != got.end();
  }));
  EXPECT_EQ(Run({"SPUBLISH", "t2", "z"})->integer, 0);
  sub->Stop();
}

TEST_F(RedisClientTest, SubscriptionsConfirmedAmidAFloodOfMessagesAreEachToldOnce) {
  // Shard-channel pushes are read by the subscriber itself (hiredis 0.14
  // does not know them): confirmations arrive between messages and must
  // each be matched to the topic they confirm.
  struct Seen {
    std::mutex mu;
    std::map<std::string, int> confirmed;
    std::vector<std::string> flood;
  };
  // Shared with the callbacks: a push already read when the subscriber stops
  // may still be handed over after this test's body has returned.
  auto seen = std::make_shared<Seen>();
  auto flood_size = [seen] {
    std::lock_guard<std::mutex> l(seen->mu);
    return seen->flood.size();
  };
  Options options;
  options.port = server_.port();
  auto sub = std::make_shared<RedisSubscriber>(
      ioc_.get_executor(), options,
      [seen](const std::string& topic, std::string payload) {
        std::lock_guard<std::mutex> l(seen->mu);
        if (topic == "flood") seen->flood.push_back(payload);
      },
      nullptr,
      [seen](const std::string& topic) {
        std::lock_guard<std::mutex> l(seen->mu);
        ++seen->confirmed[topic];
      });
  sub->Start();
  sub->Subscribe("flood");
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(seen->mu);
    return seen->confirmed["flood"] == 1;
  }));
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 0; !stop; ++i) {
      std::promise<void> sent;
      client_->Command({"SPUBLISH", "flood", std::to_string(i)},
                       [&](absl::StatusOr<Reply>) { sent.set_value(); });
      sent.get_future().wait();
    }
  });
  // The subscriptions go out only once the flood is under way, and the flood
  // goes on past the last confirmation, so confirmations land amid messages.
  bool flooding = WaitFor([&] { return flood_size() >= 10; });
  for (int i = 0; i < 200; ++i) sub->Subscribe(absl::StrCat("t", i));
  bool all_confirmed = WaitFor([&] {
    std::lock_guard<std::mutex> l(seen->mu);
    return seen->confirmed.size() == 201;
  });
  size_t before = flood_size();
  bool still_flooding = WaitFor([&] { return flood_size() >= before + 10; });
  stop = true;
  publisher.join();
  sub->Stop();
  ASSERT_TRUE(flooding);
  ASSERT_TRUE(all_confirmed);
  ASSERT_TRUE(still_flooding);
  std::lock_guard<std::mutex> l(seen->mu);
  for (const auto& [topic, n] : seen->confirmed) EXPECT_EQ(n, 1) << topic;
  // The flood arrived whole and in order.
  for (size_t i = 0; i < seen->flood.size(); ++i) ASSERT_EQ(seen->flood[i], std::to_string(i));
}

}  // namespace
}  // namespace chat::redis
