// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// MpiCommunicator: StochasticLearner's LearnerCommunicator over an MPI
// communicator, for data-parallel learning on a cluster (target
// ceres_wiberg::mpi, built when CMake finds MPI; the core and the learning
// target never need MPI).
//
//   int main(int argc, char** argv) {
//     MPI_Init(&argc, &argv);          // the learner calls MPI from the calling
//     {                                // thread only: MPI_THREAD_SINGLE will do
//       ceres_wiberg::MpiCommunicator communicator(MPI_COMM_WORLD);
//       StochasticLearner::Options options;   // the same on every rank
//       options.communicator = &communicator;
//       options.checkpoint_path = "run/checkpoint.json";  // written by rank 0
//       Status status = StochasticLearner(options).Learn(&objective, &w, &summary);
//       if (communicator.rank() == 0 && !status.ok()) ...  // the same status on every rank
//     }
//     MPI_Finalize();
//   }
//
//   mpirun -np 4 ./program                 # as root: add --allow-run-as-root
//
// Faults. An example that fails, or whose EvaluateExample throws, is a
// status every rank learns (see stochastic_learner.h). A rank that dies
// (signal, exit) is noticed by mpirun, which ends the others and says which
// rank died. A rank that hangs blocks the others in the next AllGather:
// bound the job with `mpirun --timeout SECONDS` (OpenMPI) or the batch
// system's time limit. Unrecoverable errors (an exception escaping the
// learner, a failure to communicate) should end the job with Abort, which
// prints the message and calls MPI_Abort, rather than leave the other ranks
// waiting. MPI errors themselves end the job (MPI_ERRORS_ARE_FATAL).

#ifndef CERES_WIBERG_MPI_COMMUNICATOR_H_
#define CERES_WIBERG_MPI_COMMUNICATOR_H_

#include <string>
#include <vector>

#include "ceres_wiberg/learner_communicator.h"
#include "mpi.h"

namespace ceres_wiberg {

class MpiCommunicator : public LearnerCommunicator {
 public:
  // Borrows `communicator` (MPI must be initialised, and stay so while this
  // object is used).
  explicit MpiCommunicator(MPI_Comm communicator = MPI_COMM_WORLD);

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  // MPI_Allgather of the sizes, then MPI_Allgatherv of the bytes. A message
  // of 2^31 bytes or more ends the job (Abort).
  void AllGather(const std::string& local, std::vector<std::string>* all) override;

  // Prints "ceres_wiberg: rank R of P: <message>" to stderr and ends every
  // process of the communicator with MPI_Abort(communicator, exit_code).
  [[noreturn]] void Abort(const std::string& message, int exit_code = 1) const;

  MPI_Comm communicator() const { return communicator_; }

 private:
  MPI_Comm communicator_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_MPI_COMMUNICATOR_H_
