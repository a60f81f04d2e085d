// A fixed pool of worker threads running parallel loops over work items.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sinter {

class ThreadPool {
public:
  /// `threads` workers in all, the calling thread included (0: every core).
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  /// Runs fn(begin, end, thread) over [0, items) split into contiguous ranges, one per thread
  /// (fewer when there are fewer items); returns when all are done.
  void parallelFor(int64_t items, const std::function<void(int64_t, int64_t, int)>& fn);

private:
  void workerLoop(int index);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t items_ = 0;
  int parts_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

} // namespace sinter
