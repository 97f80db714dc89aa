#include "tracking_data.h"

namespace tracker_fusion {

const char* FrameStatusToString(FrameStatus status) {
  switch (status) {
    case FrameStatus::kBox:
      return "box";
    case FrameStatus::kInitialised:
      return "initialised";
    case FrameStatus::kFailed:
      return "failed";
    case FrameStatus::kSkipped:
      return "skipped";
  }
  return "unknown";
}

void AssignFramesSinceInitialisation(std::vector<TrackerFrame>* frames) {
  int last_initialisation = 0;
  for (int f = 0; f < static_cast<int>(frames->size()); ++f) {
    TrackerFrame& frame = (*frames)[f];
    switch (frame.status) {
      case FrameStatus::kInitialised:
        last_initialisation = f;
        frame.frames_since_initialisation = 0;
        break;
      case FrameStatus::kBox:
        frame.frames_since_initialisation = f - last_initialisation;
        break;
      case FrameStatus::kFailed:
      case FrameStatus::kSkipped:
        frame.frames_since_initialisation = -1;
        break;
    }
  }
}

}  // namespace tracker_fusion
