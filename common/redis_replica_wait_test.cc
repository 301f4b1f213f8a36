// ReplicaWait against a real master and replica.
#include "common/redis_replica_wait.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <future>
#include <thread>

#include "absl/synchronization/blocking_counter.h"
#include "common/redis_test_server.h"

namespace chat::redis {
namespace {

const bool kIgnoreSigpipe = [] {
  signal(SIGPIPE, SIG_IGN);  // hiredis writes with write(2).
  return true;
}();

namespace asio = boost::asio;

class ReplicaWaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(master_.Start().ok());
    replica_.set_replica_of(master_.port());
    ASSERT_TRUE(replica_.Start().ok());
    thread_ = std::thread([this] { ioc_.run(); });
    Options options;
    options.port = master_.port();
    options.reconnect_delay = absl::Milliseconds(20);
    client_ = std::make_shared<RedisClient>(ioc_.get_executor(), options);
    client_->Start();
    for (int i = 0; i < 500 && !client_->connected(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(client_->connected());
    wait_ = std::make_unique<ReplicaWait>(client_, 1, absl::Milliseconds(200));
  }
  void TearDown() override {
    client_->Stop();
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  // Write runs SET and returns the epoch its reply came on.
  uint64_t Write(const std::string& key) {
    std::promise<uint64_t> epoch;
    client_->Command({"SET", key, "v"}, [&](absl::StatusOr<Reply> r) {
      EXPECT_TRUE(r.ok());
      epoch.set_value(wait_->WriteEpoch());
    });
    return epoch.get_future().get();
  }
  absl::Status After(uint64_t epoch) {
    std::promise<absl::Status> done;
    wait_->After(epoch, [&](absl::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  chat::testing::RedisTestServer master_, replica_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::thread thread_;
  std::shared_ptr<RedisClient> client_;
  std::unique_ptr<ReplicaWait> wait_;
};

TEST_F(ReplicaWaitTest, ConfirmsOnceTheReplicaHasTheWriteAndRefusesWhileItIsAway) {
  EXPECT_TRUE(After(Write("a")).ok());
  replica_.Pause();
  absl::Status s = After(Write("b"));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  replica_.Resume();
  EXPECT_TRUE(After(Write("c")).ok());
  EXPECT_EQ(wait_->stats().confirmed.load(), 2u);
  EXPECT_EQ(wait_->stats().short_.load(), 1u);
}

TEST_F(ReplicaWaitTest, CallersArrivingTogetherShareWaits) {
  constexpr int kCallers = 200;
  absl::BlockingCounter left(kCallers);
  std::atomic<int> ok{0};
  for (int i = 0; i < kCallers; ++i) {
    client_->Command({"INCR", "n"}, [&](absl::StatusOr<Reply> r) {
      EXPECT_TRUE(r.ok());
      wait_->After(wait_->WriteEpoch(), [&](absl::Status s) {
        if (s.ok()) ok.fetch_add(1);
        left.DecrementCount();
      });
    });
  }
  left.Wait();
  EXPECT_EQ(ok.load(), kCallers);
  // One WAIT in flight at a time, the rest queued behind it together.
  EXPECT_LT(wait_->stats().waits.load(), static_cast<uint64_t>(kCallers));
}

TEST_F(ReplicaWaitTest, AWriteFromAnEarlierConnectionIsNeverConfirmed) {
  const uint64_t epoch = Write("a");
  client_->Reconnect();
  for (int i = 0; i < 500 && wait_->WriteEpoch() == epoch; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(wait_->WriteEpoch(), epoch);
  for (int i = 0; i < 500 && !client_->connected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  absl::Status s = After(epoch);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(wait_->stats().failed.load(), 1u);
}

}  // namespace
}  // namespace chat::redis
