#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace vmail {

Status parallel_for(size_t n, unsigned threads, const std::function<Status(size_t)>& fn,
                    const ParallelProgress& progress) {
  if (n == 0) return Status::Ok();
  threads = static_cast<unsigned>(std::clamp<size_t>(threads, 1, n));
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::condition_variable finished_cv;
  unsigned finished = 0;
  Status first_error;
  auto worker = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1);
      if (i >= n) break;
      Status s = fn(i);
      if (!s.ok()) {
        std::lock_guard lock(mutex);
        if (!failed.exchange(true)) first_error = std::move(s);
      }
      done.fetch_add(1, std::memory_order_relaxed);
    }
    std::lock_guard lock(mutex);
    ++finished;
    finished_cv.notify_all();
  };
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  {
    // Progress is reported from here, not from the workers, so the callback
    // never runs on two threads at once.
    std::unique_lock lock(mutex);
    while (!finished_cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return finished == threads; })) {
      if (progress) {
        lock.unlock();
        progress(done.load(), n);
        lock.lock();
      }
    }
  }
  for (auto& t : pool) t.join();
  if (progress && !failed) progress(n, n);
  return first_error;
}

}  // namespace vmail
