// parallel_for: every index once, the first failure returned, progress from
// the calling thread only.
#include "core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace vmail {
namespace {

TEST(ParallelForTest, RunsEveryIndexExactlyOnce) {
  for (unsigned threads : {0u, 1u, 2u, 8u}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{1000}}) {
      std::vector<std::atomic<int>> seen(n);
      Status s = parallel_for(n, threads, [&](size_t i) {
        seen[i].fetch_add(1);
        return Status::Ok();
      });
      EXPECT_TRUE(s.ok());
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << "n=" << n << " threads=" << threads << " i=" << i;
    }
  }
}

TEST(ParallelForTest, FirstFailureIsReturnedAndStopsTheRest) {
  std::atomic<size_t> calls{0};
  Status s = parallel_for(100000, 4, [&](size_t i) {
    calls.fetch_add(1);
    return i == 10 ? Status(Code::kBadInput, "line 10: bad") : Status::Ok();
  });
  EXPECT_EQ(s.code(), Code::kBadInput);
  EXPECT_EQ(s.message(), "line 10: bad");
  EXPECT_LT(calls.load(), 100000u);
}

TEST(ParallelForTest, ProgressRunsOnTheCallingThreadAndEndsComplete) {
  std::thread::id caller = std::this_thread::get_id();
  std::vector<std::pair<size_t, size_t>> reports;
  bool other_thread = false;
  Status s = parallel_for(
      20, 2,
      [](size_t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(15));
        return Status::Ok();
      },
      [&](size_t done, size_t total) {
        if (std::this_thread::get_id() != caller) other_thread = true;
        reports.emplace_back(done, total);
      });
  EXPECT_TRUE(s.ok());
  EXPECT_FALSE(other_thread);
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.back(), std::make_pair(size_t{20}, size_t{20}));
}

}  // namespace
}  // namespace vmail
