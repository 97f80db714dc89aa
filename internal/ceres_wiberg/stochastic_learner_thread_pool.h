// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// ExampleThreadPool: persistent workers that evaluate the examples of one
// minibatch concurrently. Threads are started once per Learn call, not once
// per minibatch (batch size 1 over 10,000 iterations would otherwise spend
// its time creating threads).

#ifndef CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_THREAD_POOL_H_
#define CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ceres_wiberg {
namespace internal {

class ExampleThreadPool {
 public:
  // num_threads >= 1 counts the calling thread: num_threads - 1 workers.
  explicit ExampleThreadPool(int num_threads);
  ~ExampleThreadPool();
  ExampleThreadPool(const ExampleThreadPool&) = delete;
  ExampleThreadPool& operator=(const ExampleThreadPool&) = delete;

  // Runs task(i) for every i in [0, num_tasks), each exactly once, on the
  // workers and the calling thread; returns when all have finished. Which
  // thread runs which task is unspecified, so tasks must write to
  // task-indexed slots only.
  void ParallelFor(int num_tasks, const std::function<void(int)>& task);

 private:
  void WorkerLoop();
  void RunTasks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_;
  std::condition_variable done_;
  // Guarded by mutex_.
  uint64_t generation_ = 0;
  int busy_workers_ = 0;
  bool shutdown_ = false;
  const std::function<void(int)>* task_ = nullptr;
  int num_tasks_ = 0;
  // The next task index to claim.
  std::atomic<int> next_task_{0};
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_THREAD_POOL_H_
