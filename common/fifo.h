// Fifo: a first-in first-out queue that holds no memory until its first
// push, for state that every connection keeps and most leave empty (the
// gateway's outgoing frames and waiting history requests per socket).
// libstdc++'s std::deque allocates its map and a 512-byte block on
// construction, about 600 bytes per empty queue.
//
// The elements live in one vector; pop_front resets the front element (so a
// shared payload is released at once) and moves a read index on. Once the
// queue is empty the vector is cleared and, past kKeep slots, its memory
// returned; while it is not, the popped prefix is compacted away once it
// outgrows the rest, so a queue never holds more than twice its elements
// (plus one), and its memory shrinks with it. Not
// thread-safe; amortized O(1) per operation.
#ifndef CHATSUITE_COMMON_FIFO_H_
#define CHATSUITE_COMMON_FIFO_H_

#include <cstddef>
#include <utility>
#include <vector>

namespace chat {

template <typename T>
class Fifo {
 public:
  // Slots kept allocated once the queue drains (a busy socket's usual burst).
  static constexpr size_t kKeep = 16;

  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  // For tests: the slots allocated, and those in use (live or popped but
  // not compacted away yet).
  size_t capacity() const { return items_.capacity(); }
  size_t held() const { return items_.size(); }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }

  void push_back(T item) { items_.push_back(std::move(item)); }
  // pop_front and pop_back need a non-empty queue.
  void pop_front() {
    items_[head_++] = T();
    if (empty()) return Drained();
    if (head_ > size()) Compact();
  }
  void pop_back() {
    items_.pop_back();
    if (empty()) return Drained();
    if (head_ > size()) Compact();
  }
  void clear() {
    items_.clear();
    Drained();
  }

 private:
  void Compact() {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
    // A burst's peak is not kept while a slow reader works the rest off.
    if (items_.capacity() > 4 * items_.size() + kKeep) items_.shrink_to_fit();
  }
  void Drained() {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > kKeep) std::vector<T>().swap(items_);
  }

  std::vector<T> items_;
  size_t head_ = 0;  // The front's index in items_.
};

}  // namespace chat

#endif  // CHATSUITE_COMMON_FIFO_H_
