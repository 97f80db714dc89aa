#include "ceres_wiberg/thread_pool.h"

#include <algorithm>

#include "glog/logging.h"

namespace ceres_wiberg {

ThreadPool::ThreadPool(int num_threads) {
  CHECK_GE(num_threads, 1);
  workers_.reserve(num_threads - 1);
  for (int i = 1; i < num_threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_ = true;
  }
  start_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::ParallelFor(int num_tasks, const std::function<void(int)>& task) {
  if (workers_.empty() || num_tasks <= 1) {
    for (int i = 0; i < num_tasks; ++i) task(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    num_tasks_ = num_tasks;
    next_task_.store(0);
    busy_workers_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  start_.notify_all();
  RunTasks();
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return busy_workers_ == 0; });
  task_ = nullptr;
  num_tasks_ = 0;
}

void ThreadPool::WorkerLoop() {
  uint64_t seen_generation = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return shutdown_ || generation_ != seen_generation; });
      if (shutdown_) return;
      seen_generation = generation_;
    }
    RunTasks();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_workers_ == 0) done_.notify_one();
    }
  }
}

void ThreadPool::RunTasks() {
  // task_ and num_tasks_ were published under mutex_ before any thread got
  // here, and stay fixed until every worker has reported back.
  for (;;) {
    const int i = next_task_.fetch_add(1);
    if (i >= num_tasks_) return;
    (*task_)(i);
  }
}

void ParallelFor(int num_tasks, int num_threads, const std::function<void(int)>& task) {
  CHECK_GE(num_threads, 1);
  ThreadPool pool(std::max(1, std::min(num_threads, num_tasks)));
  pool.ParallelFor(num_tasks, task);
}

}  // namespace ceres_wiberg
