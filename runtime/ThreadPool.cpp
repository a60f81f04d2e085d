// ThreadPool: workers wait for a generation counter; each takes its fixed share of the items.
#include "runtime/ThreadPool.h"

#include <algorithm>

namespace sinter {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0)
    threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i)
    workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_)
    t.join();
}

namespace {
// Range of part p of n items split into `parts` nearly equal contiguous ranges.
std::pair<int64_t, int64_t> share(int64_t n, int parts, int p) {
  int64_t base = n / parts, extra = n % parts;
  int64_t begin = p * base + std::min<int64_t>(p, extra);
  return {begin, begin + base + (p < extra ? 1 : 0)};
}
} // namespace

void ThreadPool::workerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t, int64_t, int)>* job;
    int64_t items;
    int parts;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_)
        return;
      seen = generation_;
      job = job_;
      items = items_;
      parts = parts_;
    }
    if (index < parts) {
      auto [b, e] = share(items, parts, index);
      (*job)(b, e, index);
    }
    {
      std::lock_guard lock(mu_);
      if (--pending_ == 0)
        done_.notify_one();
    }
  }
}

void ThreadPool::parallelFor(int64_t items, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (items <= 0)
    return;
  int parts = static_cast<int>(std::min<int64_t>(items, size()));
  if (parts == 1 || workers_.empty()) {
    fn(0, items, 0);
    return;
  }
  {
    std::lock_guard lock(mu_);
    job_ = &fn;
    items_ = items;
    parts_ = parts;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  auto [b, e] = share(items, parts, 0);
  fn(b, e, 0);
  std::unique_lock lock(mu_);
  done_.wait(lock, [&] { return pending_ == 0; });
}

} // namespace sinter
