// The same mean as learning_main.cc, learnt on every MPI process of the job
// with the installed ceres_wiberg::mpi target: w -> 2.5 on every process.
#include <cmath>
#include <cstdio>

#include "ceres_wiberg/learning.h"
#include "ceres_wiberg/mpi_communicator.h"

class MeanObjective : public ceres_wiberg::TrainingObjective {
 public:
  int num_examples() const override { return 4; }
  int num_parameters() const override { return 1; }
  ceres_wiberg::Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                       Eigen::VectorXd* gradient) override {
    const double residual = w(0) - (example + 1.0);
    *loss = 0.5 * residual * residual;
    if (gradient != nullptr) *gradient = Eigen::VectorXd::Constant(1, residual);
    return ceres_wiberg::Status::Ok();
  }
};

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int result = 1;
  {
    ceres_wiberg::MpiCommunicator communicator(MPI_COMM_WORLD);
    ceres_wiberg::StochasticLearner::Options options;
    options.optimiser = ceres_wiberg::StochasticOptimiser::SGD;
    options.learning_rate = 0.5;
    options.batch_size = 4;
    options.num_epochs = 40;
    options.communicator = &communicator;
    MeanObjective objective;
    Eigen::VectorXd w = Eigen::VectorXd::Zero(1);
    ceres_wiberg::StochasticLearner::Summary summary;
    if (ceres_wiberg::StochasticLearner(options).Learn(&objective, &w, &summary).ok()) {
      std::printf("downstream_mpi: process %d of %d: w = %.6f (expected 2.5)\n",
                  communicator.rank(), communicator.size(), w(0));
      result = std::abs(w(0) - 2.5) < 1e-6 ? 0 : 1;
    }
  }
  MPI_Finalize();
  return result;
}
