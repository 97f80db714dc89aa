#include "ceres_wiberg/mpi_communicator.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

namespace ceres_wiberg {

MpiCommunicator::MpiCommunicator(MPI_Comm communicator) : communicator_(communicator) {
  MPI_Comm_rank(communicator_, &rank_);
  MPI_Comm_size(communicator_, &size_);
}

void MpiCommunicator::AllGather(const std::string& local, std::vector<std::string>* all) {
  if (local.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    Abort("AllGather of " + std::to_string(local.size()) +
          " bytes: MPI counts are int, at most 2^31 - 1 bytes per message");
  }
  int size = static_cast<int>(local.size());
  std::vector<int> sizes(size_);
  MPI_Allgather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, communicator_);
  std::vector<int> offsets(size_);
  long long total = 0;
  for (int r = 0; r < size_; ++r) {
    if (total > std::numeric_limits<int>::max()) {
      Abort("AllGather of " + std::to_string(total) +
            "+ bytes in all: MPI displacements are int, at most 2^31 - 1");
    }
    offsets[r] = static_cast<int>(total);
    total += sizes[r];
  }
  std::string buffer(static_cast<size_t>(total), '\0');
  MPI_Allgatherv(local.data(), size, MPI_BYTE, buffer.data(), sizes.data(), offsets.data(),
                 MPI_BYTE, communicator_);
  all->resize(size_);
  for (int r = 0; r < size_; ++r) (*all)[r].assign(buffer, offsets[r], sizes[r]);
}

void MpiCommunicator::Abort(const std::string& message, int exit_code) const {
  std::fprintf(stderr, "ceres_wiberg: rank %d of %d: %s\n", rank_, size_, message.c_str());
  std::fflush(stderr);
  MPI_Abort(communicator_, exit_code);
  std::abort();  // MPI_Abort does not return; if it did, end this process at least.
}

}  // namespace ceres_wiberg
