// ThreadPool and ParallelFor: every task runs exactly once, on any number of
// threads, and a pool is reusable across loops.

#include "ceres_wiberg/thread_pool.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnceAcrossReusedLoops) {
  for (int num_threads : {1, 2, 4}) {
    ThreadPool pool(num_threads);
    EXPECT_EQ(pool.num_threads(), num_threads);
    for (int num_tasks : {0, 1, 3, 1000}) {
      std::vector<std::atomic<int>> runs(num_tasks);
      pool.ParallelFor(num_tasks, [&](int i) { runs[i].fetch_add(1); });
      for (int i = 0; i < num_tasks; ++i) {
        EXPECT_EQ(runs[i].load(), 1) << num_threads << " threads, task " << i << "/" << num_tasks;
      }
    }
  }
}

TEST(ParallelFor, MoreThreadsThanTasksAndSlotResultsIndependentOfThreads) {
  const int num_tasks = 257;
  std::vector<double> reference(num_tasks);
  ParallelFor(num_tasks, 1, [&](int i) { reference[i] = 1.0 / (i + 1); });
  for (int num_threads : {2, 3, 1000}) {
    std::vector<double> slots(num_tasks, 0.0);
    ParallelFor(num_tasks, num_threads, [&](int i) { slots[i] = 1.0 / (i + 1); });
    EXPECT_EQ(slots, reference) << num_threads << " threads";
  }
}

}  // namespace
}  // namespace ceres_wiberg
