#include "common/fifo.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>
#include <string>

namespace chat {
namespace {

TEST(FifoTest, HoldsNoMemoryUntilTheFirstPushAndReturnsItOnceDrainedPastTheKeptSlots) {
  Fifo<std::string> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.capacity(), 0u);
  for (int i = 0; i < 100; ++i) q.push_back(std::to_string(i));
  EXPECT_GT(q.capacity(), Fifo<std::string>::kKeep);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(q.front(), std::to_string(i));
    q.pop_front();
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.capacity(), 0u);
  q.push_back("a");
  q.pop_front();
  EXPECT_GT(q.capacity(), 0u);  // A small queue keeps its slot for the next burst.
  EXPECT_LE(q.capacity(), Fifo<std::string>::kKeep);
}

TEST(FifoTest, ABurstsMemoryIsReturnedAsTheQueueShrinksWithoutDraining) {
  Fifo<int> q;
  for (int i = 0; i < 10000; ++i) q.push_back(i);
  const size_t peak = q.capacity();
  // Worked off to a few while new ones keep coming: never empty.
  for (int i = 0; i < 9990; ++i) {
    q.pop_front();
    if (i % 100 == 0) q.push_back(i);
  }
  EXPECT_FALSE(q.empty());
  EXPECT_LT(q.capacity(), peak / 8);
}

TEST(FifoTest, APoppedElementIsReleasedAtOnce) {
  Fifo<std::shared_ptr<int>> q;
  auto payload = std::make_shared<int>(7);
  std::weak_ptr<int> watch = payload;
  q.push_back(std::move(payload));
  q.push_back(std::make_shared<int>(8));
  q.pop_front();
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(*q.front(), 8);
}

TEST(FifoTest, BehavesAsADequeUnderRandomOperationsAndStaysWithinTwiceItsSize) {
  std::mt19937 rng(42);
  Fifo<int> q;
  std::deque<int> want;
  int next = 0;
  for (int step = 0; step < 100000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 5 || want.empty()) {
      q.push_back(next);
      want.push_back(next++);
    } else if (op < 9) {
      ASSERT_EQ(q.front(), want.front());
      q.pop_front();
      want.pop_front();
    } else if (op == 9) {
      ASSERT_EQ(q.back(), want.back());
      q.pop_back();
      want.pop_back();
    }
    ASSERT_EQ(q.size(), want.size());
    ASSERT_EQ(q.empty(), want.empty());
    if (!want.empty()) {
      ASSERT_EQ(q.front(), want.front());
      ASSERT_EQ(q.back(), want.back());
    }
    // What is held: the live elements and a popped prefix no larger than them.
    ASSERT_LE(q.held(), 2 * want.size() + 1);
  }
  q.clear();
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace chat
