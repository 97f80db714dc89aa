// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// ThreadPool: persistent workers that run the tasks of one ParallelFor call
// concurrently, and ParallelFor for a one-off loop. Threads are started once
// per pool, not once per loop (a learner at batch size 1 over 10,000
// iterations would otherwise spend its time creating threads).

#ifndef CERES_WIBERG_THREAD_POOL_H_
#define CERES_WIBERG_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ceres_wiberg {

class ThreadPool {
 public:
  // num_threads >= 1 counts the calling thread: num_threads - 1 workers.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

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

// Runs task(i) for every i in [0, num_tasks) on min(num_threads, num_tasks)
// threads, the calling thread included, with a pool of its own. The same
// contract as ThreadPool::ParallelFor.
void ParallelFor(int num_tasks, int num_threads, const std::function<void(int)>& task);

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_THREAD_POOL_H_
