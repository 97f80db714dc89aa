// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// LearnerCommunicator: the seam through which StochasticLearner runs as one
// of several processes (data-parallel learning). Every process runs the same
// learner on the same options and objective; per minibatch each evaluates
// only the examples it owns, and the per-example results (loss, gradient,
// status) are exchanged so that every process sums all of them in minibatch
// order, exactly as a single process does. The trajectory is therefore
// bit-identical for any number of processes and threads. Process 0 alone
// writes checkpoints and curves and prints progress.
//
// The learner needs one collective operation, AllGather of byte strings.
// ceres_wiberg::MpiCommunicator (ceres_wiberg/mpi_communicator.h, target
// ceres_wiberg::mpi) implements it over an MPI communicator; the learning
// target itself never depends on MPI.
//
// Usage (one process of `mpirun -np P`):
//   ceres_wiberg::MpiCommunicator communicator(MPI_COMM_WORLD);
//   StochasticLearner::Options options;
//   options.communicator = &communicator;
//   ...                                     // the same options on every rank
//   StochasticLearner learner(options);
//   Status status = learner.Learn(&objective, &w, &summary);  // on every rank

#ifndef CERES_WIBERG_LEARNER_COMMUNICATOR_H_
#define CERES_WIBERG_LEARNER_COMMUNICATOR_H_

#include <string>
#include <vector>

namespace ceres_wiberg {

class LearnerCommunicator {
 public:
  virtual ~LearnerCommunicator() = default;

  // This process's index in [0, size()), and the number of processes.
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Collective: every process calls it, in the same sequence of calls, with
  // its own bytes; on return (*all)[r] holds the bytes process r passed, for
  // every r in [0, size()). A failure to communicate is not recoverable (the
  // implementation ends the job).
  virtual void AllGather(const std::string& local, std::vector<std::string>* all) = 0;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_LEARNER_COMMUNICATOR_H_
