#include "synthetic_h36m.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <sstream>

#include "Eigen/Geometry"
#include "glog/logging.h"
#include "skeleton.h"

namespace human_pose {
namespace {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

constexpr double kPi = 3.14159265358979323846;
constexpr double kDegree = kPi / 180.0;

// Draws built only on std::mt19937_64, whose output the standard fixes (the
// std:: distributions are implementation-defined).
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }
  bool Bernoulli(double p) { return Uniform() < p; }
  double Normal() {  // Box-Muller
    const double u = 1.0 - Uniform();  // (0, 1]
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * kPi * Uniform());
  }

 private:
  std::mt19937_64 engine_;
};

// SplitMix64 finaliser: decorrelates seeds built from small integers.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t StreamSeed(uint64_t seed, int subject, int action, int sequence, int stream) {
  uint64_t h = Mix(seed);
  for (int v : {subject, action, sequence, stream}) h = Mix(h ^ static_cast<uint64_t>(v));
  return h;
}

// ---------------------------------------------------------------------------
// Body model. Body frame: x to the subject's right, y forward, z up; root at
// the origin. All angles in degrees.

enum Angle {
  kLean,       // torso forward bend
  kSide,       // torso bend to the right
  kTwist,      // torso twist, to the left (counter-clockwise seen from above)
  kHeadPitch,  // head down
  kHeadYaw,    // head to the left
  kHipFlex,    // thigh forward (+1 for the left side)
  kHipFlexL,
  kHipAbd,  // thigh outward
  kHipAbdL,
  kKnee,  // knee flexion
  kKneeL,
  kShoulderFlex,  // upper arm forward
  kShoulderFlexL,
  kShoulderAbd,  // upper arm outward
  kShoulderAbdL,
  kShoulderTwist,  // internal rotation of the upper arm
  kShoulderTwistL,
  kElbow,  // elbow flexion
  kElbowL,
  kNumAngles
};
constexpr int kRight = 0, kLeft = 1;
using Angles = std::array<double, kNumAngles>;

Eigen::Matrix3d Rx(double degrees) {
  return Eigen::AngleAxisd(degrees * kDegree, Eigen::Vector3d::UnitX()).toRotationMatrix();
}
Eigen::Matrix3d Ry(double degrees) {
  return Eigen::AngleAxisd(degrees * kDegree, Eigen::Vector3d::UnitY()).toRotationMatrix();
}
Eigen::Matrix3d Rz(double degrees) {
  return Eigen::AngleAxisd(degrees * kDegree, Eigen::Vector3d::UnitZ()).toRotationMatrix();
}

// Forward kinematics in the body frame; `length` as SubjectBoneLengths.
Pose BodyPose(const Angles& a, const std::array<double, kNumJoints>& length) {
  Pose p;
  p.col(kHip).setZero();
  const Eigen::Vector3d down(0.0, 0.0, -1.0);
  for (int side : {kRight, kLeft}) {
    const double s = side == kRight ? 1.0 : -1.0;  // +x is right
    const int hip = side == kRight ? kRightHip : kLeftHip;
    p.col(hip) = length[hip] * Eigen::Vector3d(s, 0.0, -0.08).normalized();
    const Eigen::Matrix3d thigh = Rx(a[kHipFlex + side]) * Ry(-s * a[kHipAbd + side]);
    p.col(hip + 1) = p.col(hip) + length[hip + 1] * (thigh * down);
    p.col(hip + 2) = p.col(hip + 1) + length[hip + 2] * (thigh * Rx(-a[kKnee + side]) * down);
  }
  const Eigen::Matrix3d half_bend =
      Rz(0.5 * a[kTwist]) * Ry(0.5 * a[kSide]) * Rx(-0.5 * a[kLean]);
  const Eigen::Matrix3d lower = half_bend;
  const Eigen::Matrix3d torso = lower * half_bend;
  p.col(kSpine) = length[kSpine] * (lower * Eigen::Vector3d(0.0, 0.05, 1.0).normalized());
  p.col(kThorax) =
      p.col(kSpine) + length[kThorax] * (torso * Eigen::Vector3d(0.0, -0.05, 1.0).normalized());
  const Eigen::Matrix3d head = torso * Rz(a[kHeadYaw]) * Rx(-a[kHeadPitch]);
  p.col(kNeck) = p.col(kThorax) + length[kNeck] * (head * Eigen::Vector3d(0.0, 0.45, 0.9).normalized());
  p.col(kHead) = p.col(kNeck) + length[kHead] * (head * Eigen::Vector3d(0.0, -0.3, 1.0).normalized());
  for (int side : {kRight, kLeft}) {
    const double s = side == kRight ? 1.0 : -1.0;
    const int shoulder = side == kRight ? kRightShoulder : kLeftShoulder;
    p.col(shoulder) =
        p.col(kThorax) + length[shoulder] * (torso * Eigen::Vector3d(s, 0.0, -0.15).normalized());
    const Eigen::Matrix3d upper = torso * Rx(a[kShoulderFlex + side]) *
                                  Ry(-s * a[kShoulderAbd + side]) *
                                  Rz(s * a[kShoulderTwist + side]);
    p.col(shoulder + 1) = p.col(shoulder) + length[shoulder + 1] * (upper * down);
    p.col(shoulder + 2) =
        p.col(shoulder + 1) + length[shoulder + 2] * (upper * Rx(a[kElbow + side]) * down);
  }
  return p;
}

// ---------------------------------------------------------------------------
// Actions. Each maps the time in the sequence and the sequence's style (a few
// uniforms drawn once per sequence) to joint angles and a locomotion command.

struct Motion {
  Angles angles{};
  double speed = 0.0;      // forward walking speed, mm/s
  double turn_rate = 0.0;  // heading change, degrees/s (to the left)
  double gait = 0.0;       // amplitude of the gait cycle in [0, 1]
};

struct Style {
  std::array<double, 8> u{};  // uniforms in [0, 1)
  double gait_frequency = 0.9;  // gait cycles per second
  double gait_phase = 0.0;      // radians
};

double SmoothStep(double x) {
  x = std::clamp(x, 0.0, 1.0);
  return x * x * (3.0 - 2.0 * x);
}

// A periodic 0 -> 1 -> 0 bump: 0.5 - 0.5 cos.
double Cycle(double t, double period, double phase) {
  return 0.5 - 0.5 * std::cos(2.0 * kPi * t / period + phase);
}

Angles Standing() {
  Angles a{};
  a[kKnee] = a[kKneeL] = 4.0;
  a[kHipAbd] = a[kHipAbdL] = 3.0;
  a[kShoulderAbd] = a[kShoulderAbdL] = 8.0;
  a[kElbow] = a[kElbowL] = 12.0;
  a[kShoulderTwist] = a[kShoulderTwistL] = 10.0;
  return a;
}

void Sit(double amount, double hip, double knee, Angles* a) {
  for (int side : {kRight, kLeft}) {
    (*a)[kHipFlex + side] += amount * hip;
    (*a)[kKnee + side] += amount * knee;
  }
}

// Arm `side` blends towards the given shoulder flexion, abduction, twist and
// elbow flexion by `w` in [0, 1].
void ArmTo(int side, double w, double flex, double abd, double twist, double elbow, Angles* a) {
  auto blend = [w](double* x, double target) { *x += w * (target - *x); };
  blend(&(*a)[kShoulderFlex + side], flex);
  blend(&(*a)[kShoulderAbd + side], abd);
  blend(&(*a)[kShoulderTwist + side], twist);
  blend(&(*a)[kElbow + side], elbow);
}

// Arm poses found by a grid search over the four arm angles of the mean
// subject, wrist targets relative to the head: phone beside the jaw
// (wrist 85 mm out, 210 mm below the top of the head), hand under the mouth
// (90 mm in front of and 110 mm below the nose), hand in front of the face
// (160 mm in front of the nose, 40 mm past the midline; with both hands,
// holding a camera).
void HandToEar(int side, double w, Angles* a) { ArmTo(side, w, 80.0, 10.0, 60.0, 150.0, a); }
void HandToMouth(int side, double w, Angles* a) { ArmTo(side, w, 65.0, 0.0, 60.0, 140.0, a); }
void HandToFace(int side, double w, Angles* a) { ArmTo(side, w, 80.0, 0.0, 60.0, 115.0, a); }

Motion ActionMotion(int action, double t, const Style& st) {
  const auto& u = st.u;
  const int hand = u[0] < 0.7 ? kRight : kLeft;  // dominant hand of the sequence
  const int other = 1 - hand;
  Motion m;
  Angles& a = m.angles;
  a = Standing();
  switch (action) {
    case 0: {  // Directions: pointing with a straight arm, turning, a few steps.
      const double p = Cycle(t, 2.5 + 2.0 * u[1], 2.0 * kPi * u[2]);
      ArmTo(hand, p, 60.0 + 30.0 * u[3], 10.0 + 50.0 * u[4], 0.0, 10.0, &a);
      a[kTwist] = (hand == kRight ? -1.0 : 1.0) * 20.0 * p;
      a[kHeadYaw] = (hand == kRight ? -1.0 : 1.0) * 25.0 * p;
      m.speed = 350.0 * u[5] * (1.0 - p);
      m.gait = m.speed / 1200.0;
      m.turn_rate = 30.0 * (u[6] - 0.5);
      break;
    }
    case 1: {  // Discussion: both arms gesturing, weight shifts, head turns.
      for (int side : {kRight, kLeft}) {
        const double g = Cycle(t, 1.6 + u[1 + side], 2.0 * kPi * u[3 + side]);
        ArmTo(side, 0.4 + 0.6 * g, 15.0 + 35.0 * g, 15.0 + 15.0 * u[5], 40.0, 60.0 + 40.0 * g, &a);
      }
      a[kHipAbd] += 6.0 * std::sin(2.0 * kPi * t / 3.0 + 6.0 * u[6]);
      a[kHipAbdL] -= 6.0 * std::sin(2.0 * kPi * t / 3.0 + 6.0 * u[6]);
      a[kHeadYaw] = 35.0 * std::sin(2.0 * kPi * t / 4.0 + 6.0 * u[7]);
      a[kTwist] = 10.0 * std::sin(2.0 * kPi * t / 4.0 + 6.0 * u[7]);
      m.speed = u[7] < 0.3 ? 300.0 : 0.0;
      m.gait = m.speed / 1200.0;
      break;
    }
    case 2: {  // Eating: seated at a table, hand to mouth, other hand on the table.
      Sit(1.0, 85.0 + 10.0 * u[1], 80.0 + 15.0 * u[2], &a);
      a[kLean] = 10.0 + 15.0 * u[3];
      a[kHeadPitch] = 15.0;
      ArmTo(other, 1.0, 40.0, 15.0, 30.0, 75.0, &a);
      ArmTo(hand, 1.0, 40.0, 15.0, 30.0, 70.0, &a);
      HandToMouth(hand, Cycle(t, 3.0 + 2.0 * u[4], 2.0 * kPi * u[5]), &a);
      break;
    }
    case 3: {  // Greeting: waving with a raised arm, or a bow and a handshake.
      if (u[1] < 0.5) {
        ArmTo(hand, 1.0, 30.0, 110.0 + 30.0 * u[2], 60.0,
              40.0 + 35.0 * std::sin(2.0 * kPi * 1.3 * t + 6.0 * u[3]), &a);
      } else {
        const double p = Cycle(t, 2.0 + u[2], 2.0 * kPi * u[3]);
        a[kLean] = 30.0 * p;
        a[kHeadPitch] = 20.0 * p;
        ArmTo(hand, 1.0, 50.0, 10.0, 20.0, 40.0, &a);
      }
      m.speed = u[4] < 0.5 ? 600.0 * (1.0 - SmoothStep(t / 1.5)) : 0.0;  // walks in
      m.gait = m.speed / 1200.0;
      break;
    }
    case 4: {  // Phoning: phone at the ear, pacing slowly.
      HandToEar(hand, 1.0, &a);
      a[kSide] = (hand == kRight ? 1.0 : -1.0) * 8.0;
      a[kHeadPitch] = 10.0;
      if (u[1] < 0.5) ArmTo(other, 1.0, 10.0, 25.0, 80.0, 90.0, &a);  // hand on the hip
      m.speed = 500.0 * u[2];
      m.gait = m.speed / 1200.0;
      m.turn_rate = 60.0 * (u[3] - 0.5);
      break;
    }
    case 5: {  // Photo: both hands in front of the face, crouching at times.
      const double p = SmoothStep(1.5 * Cycle(t, 4.0 + 2.0 * u[1], 2.0 * kPi * u[2]));
      ArmTo(kRight, 1.0, 30.0, 15.0, 40.0, 80.0, &a);
      ArmTo(kLeft, 1.0, 30.0, 15.0, 40.0, 80.0, &a);
      HandToFace(kRight, p, &a);
      HandToFace(kLeft, p, &a);
      const double crouch = u[3] < 0.5 ? p * (0.5 + u[4]) : 0.0;
      Sit(crouch, 45.0, 80.0, &a);
      a[kLean] = 25.0 * crouch + 5.0;
      m.turn_rate = 40.0 * (u[5] - 0.5);
      break;
    }
    case 6: {  // Posing: a striking pose per sequence, changing midway.
      const double w = SmoothStep((t - 0.6 - 0.8 * u[1]) / 0.8);
      for (int side : {kRight, kLeft}) {
        const double k = side == kRight ? 1.0 : 0.0;
        const double pose0 = k ? u[2] : u[3], pose1 = k ? u[4] : u[5];
        const double flex = (1.0 - w) * (-10.0 + 120.0 * pose0) + w * (-10.0 + 120.0 * pose1);
        const double abd = (1.0 - w) * (30.0 + 110.0 * pose1) + w * (30.0 + 110.0 * pose0);
        ArmTo(side, 1.0, flex, abd, 30.0, 10.0 + 90.0 * std::abs(pose0 - pose1), &a);
      }
      a[kHipFlex + hand] = 15.0 + 20.0 * u[6];  // one leg forward
      a[kKnee + hand] = 10.0 + 30.0 * u[6];
      a[kHipAbd + other] = 10.0 + 15.0 * u[7];
      a[kLean] = -10.0 + 25.0 * u[7];
      a[kSide] = 15.0 * (u[1] - 0.5);
      break;
    }
    case 7: {  // Purchases: holding things in front, bending down to pick up.
      const double p = SmoothStep(2.0 * Cycle(t, 3.0 + 2.0 * u[1], 2.0 * kPi * u[2]) - 0.5);
      a[kLean] = 10.0 + 55.0 * p;
      Sit(p, 20.0, 40.0, &a);
      ArmTo(kRight, 1.0, 35.0 + 35.0 * p, 10.0, 30.0, 70.0 - 40.0 * p, &a);
      ArmTo(kLeft, 1.0, 35.0 + 35.0 * p, 10.0, 30.0, 70.0 - 40.0 * p, &a);
      m.speed = 400.0 * u[3] * (1.0 - p);
      m.gait = m.speed / 1200.0;
      m.turn_rate = 40.0 * (u[4] - 0.5);
      break;
    }
    case 8: {  // Sitting: on a chair, leaning, legs crossed or not, a gesture.
      Sit(1.0, 85.0 + 15.0 * u[1], 75.0 + 25.0 * u[2], &a);
      a[kLean] = -10.0 + 30.0 * u[3];
      a[kSide] = 10.0 * (u[4] - 0.5);
      if (u[5] < 0.35) {  // legs crossed
        a[kHipFlex + hand] += 15.0;
        a[kHipAbd + hand] = -15.0;
        a[kKnee + hand] = 60.0;
      }
      ArmTo(kRight, 1.0, 25.0, 10.0, 50.0, 75.0, &a);
      ArmTo(kLeft, 1.0, 25.0, 10.0, 50.0, 75.0, &a);
      const double g = Cycle(t, 2.5 + u[6], 6.0 * u[7]);
      ArmTo(hand, g, 45.0, 20.0, 30.0, 90.0, &a);
      a[kHeadYaw] = 30.0 * (u[7] - 0.5);
      break;
    }
    case 9: {  // SittingDown: stand, then lower onto a chair or onto the floor.
      const double start = 0.2 + 0.6 * u[1];
      const double p = SmoothStep((t - start) / (0.8 + 0.5 * u[2]));
      const double squat = std::sin(kPi * p);  // extra flexion during the descent
      a[kLean] = 35.0 * squat + 20.0 * p * u[3];
      ArmTo(kRight, squat, 50.0, 15.0, 20.0, 30.0, &a);
      ArmTo(kLeft, squat, 50.0, 15.0, 20.0, 30.0, &a);
      if (u[4] < 0.5) {  // onto a chair
        Sit(p, 90.0, 90.0, &a);
        Sit(squat, 20.0, 15.0, &a);
        ArmTo(kRight, p * (1.0 - squat), 30.0, 10.0, 50.0, 70.0, &a);
        ArmTo(kLeft, p * (1.0 - squat), 30.0, 10.0, 50.0, 70.0, &a);
      } else {  // onto the floor, cross-legged or legs forward, leaning on an arm
        const double cross = u[5] < 0.5 ? 1.0 : 0.0;
        Sit(p, 85.0, 15.0 + 110.0 * cross, &a);
        Sit(squat, 30.0, 80.0 * (1.0 - cross), &a);
        a[kHipAbd] += p * 35.0 * cross;
        a[kHipAbdL] += p * 35.0 * cross;
        ArmTo(other, p * (1.0 - squat), -25.0, 25.0, 0.0, 5.0, &a);  // hand on the floor behind
        a[kLean] += p * 15.0;
      }
      break;
    }
    case 10: {  // Smoking: cigarette to the mouth, other arm across the waist.
      const bool seated = u[1] < 0.3;
      if (seated) Sit(1.0, 90.0, 85.0, &a);
      ArmTo(other, 1.0, 25.0, 5.0, 75.0, 95.0, &a);
      ArmTo(hand, 1.0, 20.0, 20.0, 40.0, 75.0, &a);
      HandToMouth(hand, SmoothStep(1.6 * Cycle(t, 3.0 + 3.0 * u[2], 2.0 * kPi * u[3]) - 0.3), &a);
      a[kHipAbd + hand] += 8.0 * u[4];
      a[kHeadPitch] = -5.0;
      if (!seated) m.turn_rate = 30.0 * (u[5] - 0.5);
      break;
    }
    case 11: {  // Waiting: hands on hips, behind the back or arms crossed; looking around.
      if (u[1] < 0.33) {
        ArmTo(kRight, 1.0, -5.0, 30.0, 80.0, 95.0, &a);
        ArmTo(kLeft, 1.0, -5.0, 30.0, 80.0, 95.0, &a);
      } else if (u[1] < 0.66) {
        ArmTo(kRight, 1.0, -25.0, 10.0, 80.0, 60.0, &a);
        ArmTo(kLeft, 1.0, -25.0, 10.0, 80.0, 60.0, &a);
      } else {
        ArmTo(kRight, 1.0, 25.0, 10.0, 80.0, 110.0, &a);
        ArmTo(kLeft, 1.0, 30.0, 10.0, 80.0, 105.0, &a);
      }
      a[kHeadYaw] = 50.0 * std::sin(2.0 * kPi * t / (4.0 + 3.0 * u[2]) + 6.0 * u[3]);
      a[kHipAbd + hand] += 6.0;
      a[kKnee + other] += 15.0 * u[4];
      a[kLean] = u[5] < 0.3 ? 35.0 * Cycle(t, 4.0, 6.0 * u[6]) : 0.0;  // leaning to look
      m.speed = u[7] < 0.3 ? 300.0 : 0.0;
      m.gait = m.speed / 1200.0;
      break;
    }
    case 12: {  // WalkDog: walking bent forward, leash arm forward, stops and turns.
      const double go = SmoothStep(2.0 * Cycle(t, 4.0 + 2.0 * u[1], 2.0 * kPi * u[2]));
      m.speed = (600.0 + 400.0 * u[3]) * go;
      m.gait = m.speed / 1200.0;
      m.turn_rate = 90.0 * (u[4] - 0.5) + 40.0 * std::sin(2.0 * kPi * t / 3.0);
      a[kLean] = 15.0 + 10.0 * u[5] + 30.0 * (1.0 - go) * u[6];
      ArmTo(hand, 1.0, 45.0 + 15.0 * (1.0 - go), 10.0, 20.0, 25.0, &a);
      a[kHeadPitch] = 20.0;
      break;
    }
    case 13: {  // Walking: a gait cycle, a curving path.
      m.speed = 1100.0 + 300.0 * u[1];
      m.gait = 1.0;
      m.turn_rate = 30.0 * (u[2] - 0.5);
      break;
    }
    case 14: {  // WalkTogether: slower, head towards the partner, one arm held.
      m.speed = 900.0 + 250.0 * u[1];
      m.gait = 0.75;
      m.turn_rate = 30.0 * (u[2] - 0.5);
      const double partner = u[3] < 0.5 ? 1.0 : -1.0;  // partner on the left (+) or right
      a[kHeadYaw] = partner * (20.0 + 20.0 * u[4]);
      a[kTwist] = partner * 8.0;
      if (u[5] < 0.5) ArmTo(partner > 0 ? kLeft : kRight, 1.0, 20.0, 20.0, 40.0, 80.0, &a);
      break;
    }
    default:
      LOG(FATAL) << "action " << action << " is not in [0, 15)";
  }
  // The gait cycle (Winter's kinematics, simplified): hip flexion +-22 deg,
  // knee flexion up to ~55 deg in the swing, arms swinging against the legs.
  if (m.gait > 0.0) {
    const double phi = 2.0 * kPi * st.gait_frequency * t + st.gait_phase;
    for (int side : {kRight, kLeft}) {
      const double ph = phi + (side == kRight ? 0.0 : kPi);
      const double swing = std::max(0.0, std::cos(ph - 0.4));
      a[kHipFlex + side] += m.gait * (6.0 + 22.0 * std::sin(ph));
      a[kKnee + side] += m.gait * (6.0 + 50.0 * swing * swing);
      a[kShoulderFlex + side] -= m.gait * 20.0 * std::sin(ph);
      a[kElbow + side] += m.gait * (10.0 + 8.0 * std::max(0.0, -std::sin(ph)));
    }
    a[kTwist] += m.gait * 6.0 * std::sin(phi);
    a[kLean] += m.gait * 5.0;
  }
  return m;
}

// Smooth per-sequence variation of one angle: a sum of slow sinusoids.
struct Wobble {
  std::array<double, 3> amplitude{}, frequency{}, phase{};
  double At(double t) const {
    double v = 0.0;
    for (int i = 0; i < 3; ++i) v += amplitude[i] * std::sin(2.0 * kPi * frequency[i] * t + phase[i]);
    return v;
  }
};

// Per-sequence offsets (std, degrees) and the amplitude of the slow wobble of
// each angle; the per-frame jitter is kFrameJitter degrees.
constexpr double kStyleStd[kNumAngles] = {5, 4, 6, 8, 10, 5, 5, 3, 3, 5, 5,
                                          8, 8, 8, 8, 12, 12, 10, 10};
constexpr double kWobbleStd[kNumAngles] = {3, 2, 4, 5, 8, 3, 3, 2, 2, 3, 3,
                                           5, 5, 5, 5, 6, 6, 6, 6};
constexpr double kFrameJitter = 1.5;

Angles Clamp(Angles a) {
  for (int side : {kRight, kLeft}) {
    a[kKnee + side] = std::clamp(a[kKnee + side], 0.0, 160.0);
    a[kElbow + side] = std::clamp(a[kElbow + side], 0.0, 155.0);
    a[kHipFlex + side] = std::clamp(a[kHipFlex + side], -30.0, 130.0);
    a[kShoulderAbd + side] = std::clamp(a[kShoulderAbd + side], -10.0, 170.0);
  }
  a[kLean] = std::clamp(a[kLean], -25.0, 90.0);
  return a;
}

// ---------------------------------------------------------------------------
// Detections.

// Per detected joint: noise std and miss probability factors, relative
// (normalised below). Wrists, elbows, ankles and hips are hardest for a
// stacked-hourglass detector; the head, thorax and shoulders easiest.
constexpr double kNoiseFactor[kNumJoints] = {
    1.0,  // Hip (pelvis)
    1.4, 1.0, 1.3,  // RHip, RKnee, RFoot
    1.4, 1.0, 1.3,  // LHip, LKnee, LFoot
    0.0,            // Spine: never detected
    0.6, 0.6, 0.8,  // Thorax, Neck/Nose, Head
    0.8, 1.2, 1.7,  // LShoulder, LElbow, LWrist
    0.8, 1.2, 1.7};  // RShoulder, RElbow, RWrist
constexpr double kMissFactor[kNumJoints] = {0.3, 0.6, 0.9, 1.4, 0.6, 0.9, 1.4, 0.0, 0.3,
                                            0.4, 0.6, 0.6, 1.3, 2.3, 0.6, 1.3, 2.3};

struct JointErrorModel {
  std::array<double, kNumJoints> noise_std{};
  std::array<double, kNumJoints> miss_probability{};
};

// Noise std: pixel_noise times the factor over the factors' root mean square.
// Miss probability: min(1, s * factor) with s chosen (by bisection) so that
// the mean over the 16 joints is exactly miss_probability, also near 1.
JointErrorModel MakeJointErrorModel(const SyntheticH36MOptions& options) {
  const std::vector<int>& joints = DetectedJoints();
  const double n = static_cast<double>(joints.size());
  double sum_squares = 0.0, smallest = kMissFactor[joints.front()];
  for (int j : joints) {
    sum_squares += kNoiseFactor[j] * kNoiseFactor[j];
    smallest = std::min(smallest, kMissFactor[j]);
  }
  auto mean_miss = [&](double s) {
    double sum = 0.0;
    for (int j : joints) sum += std::min(1.0, s * kMissFactor[j]);
    return sum / n;
  };
  double low = 0.0, high = 1.0 / smallest;  // mean_miss(high) = 1
  if (options.miss_probability <= 0.0) high = 0.0;
  for (int i = 0; i < 100 && high > 0.0; ++i) {
    const double mid = 0.5 * (low + high);
    (mean_miss(mid) < options.miss_probability ? low : high) = mid;
  }
  const double noise_norm = std::sqrt(sum_squares / n);
  JointErrorModel model;
  for (int j : joints) {
    model.noise_std[j] = options.pixel_noise * kNoiseFactor[j] / noise_norm;
    model.miss_probability[j] = std::min(1.0, high * kMissFactor[j]);
  }
  return model;
}

Detection Detect(const Camera& camera, const Pose& pose, const SyntheticH36MOptions& options,
                 const JointErrorModel& errors, Random* random) {
  Detection d;
  for (int j = 0; j < kNumJoints; ++j) {
    // Every draw happens for every joint, so the stream stays aligned.
    const double nx = random->Normal(), ny = random->Normal();
    const bool missed = random->Bernoulli(errors.miss_probability[j]);
    const bool outlier = random->Bernoulli(options.outlier_probability);
    const double ox = random->Normal(), oy = random->Normal();
    if (j == kUndetectedJoint) continue;  // visible stays false
    const Eigen::Vector3d in_camera = camera.rotation * (pose.col(j) - camera.position);
    if (in_camera.z() <= 0.0) continue;
    Eigen::Vector2d x = camera.Project(pose.col(j));
    x += errors.noise_std[j] * Eigen::Vector2d(nx, ny);
    if (outlier) x += options.outlier_pixels * Eigen::Vector2d(ox, oy);
    d.joints.col(j) = x;
    d.visible[j] = !missed && x.x() >= 0.0 && x.y() >= 0.0 && x.x() < camera.width &&
                   x.y() < camera.height;
    if (!d.visible[j]) d.joints.col(j).setZero();
    d.gross_error[j] = outlier && d.visible[j];
  }
  if (random->Bernoulli(options.swap_probability)) {
    const Detection original = d;
    for (int j = 0; j < kNumJoints; ++j) {
      d.joints.col(j) = original.joints.col(MirrorJoint(j));
      d.visible[j] = original.visible[MirrorJoint(j)];
      d.gross_error[j] = original.gross_error[MirrorJoint(j)];
    }
    d.swapped = true;
  }
  return d;
}

// ---------------------------------------------------------------------------

Camera LookAt(const std::string& name, const Eigen::Vector3d& position, double focal_length,
              const Eigen::Vector2d& principal_point) {
  const Eigen::Vector3d target(0.0, 0.0, 900.0);
  const Eigen::Vector3d forward = (target - position).normalized();
  const Eigen::Vector3d right = forward.cross(Eigen::Vector3d::UnitZ()).normalized();
  const Eigen::Vector3d down = forward.cross(right);
  Camera camera;
  camera.name = name;
  camera.rotation.row(0) = right.transpose();
  camera.rotation.row(1) = down.transpose();
  camera.rotation.row(2) = forward.transpose();
  camera.position = position;
  camera.focal_length = focal_length;
  camera.principal_point = principal_point;
  camera.width = 1000;
  camera.height = 1000;
  return camera;
}

void GenerateSequence(const SyntheticH36MOptions& options, const std::vector<Camera>& cameras,
                      const JointErrorModel& errors, int subject, int action, int sequence,
                      std::vector<Frame>* frames) {
  const std::array<double, kNumJoints> length = SubjectBoneLengths(subject);
  Random motion_random(StreamSeed(options.seed, subject, action, sequence, 0));
  Random detection_random(StreamSeed(options.seed, subject, action, sequence, 1));

  Style style;
  for (double& u : style.u) u = motion_random.Uniform();
  style.gait_frequency = motion_random.Uniform(0.8, 1.0);
  style.gait_phase = motion_random.Uniform(0.0, 2.0 * kPi);
  Angles offset;
  std::array<Wobble, kNumAngles> wobble;
  for (int k = 0; k < kNumAngles; ++k) {
    offset[k] = kStyleStd[k] * motion_random.Normal();
    for (int i = 0; i < 3; ++i) {
      wobble[k].amplitude[i] = kWobbleStd[k] / std::sqrt(1.5) * motion_random.Normal();
      wobble[k].frequency[i] = motion_random.Uniform(0.05, 0.4);
      wobble[k].phase[i] = motion_random.Uniform(0.0, 2.0 * kPi);
    }
  }
  // Start anywhere within 60% of the room radius, facing anywhere.
  const double r0 = 0.6 * options.room_radius * std::sqrt(motion_random.Uniform());
  const double a0 = motion_random.Uniform(0.0, 2.0 * kPi);
  Eigen::Vector2d position(r0 * std::cos(a0), r0 * std::sin(a0));
  double heading = motion_random.Uniform(-180.0, 180.0);  // degrees; 0 faces +y
  const double ground = motion_random.Uniform(70.0, 90.0);  // lowest joint height, mm

  const double dt = options.frame_period;
  for (int f = 0; f < options.frames_per_sequence; ++f) {
    const double t = f * dt;
    const Motion m = ActionMotion(action, t, style);
    Angles angles = m.angles;
    for (int k = 0; k < kNumAngles; ++k) {
      angles[k] += offset[k] + wobble[k].At(t) + kFrameJitter * motion_random.Normal();
    }
    Pose body = BodyPose(Clamp(angles), length);
    const Eigen::Matrix3d yaw = Rz(heading);
    Pose pose = yaw * body;
    const double lowest = pose.row(2).minCoeff();
    pose.row(0).array() += position.x();
    pose.row(1).array() += position.y();
    pose.row(2).array() += ground - lowest;

    Frame frame;
    frame.subject = subject;
    frame.action = action;
    frame.sequence = sequence;
    frame.frame_index = f;
    frame.pose = pose;
    for (const Camera& camera : cameras) {
      frame.views.push_back(Detect(camera, pose, options, errors, &detection_random));
    }
    frames->push_back(std::move(frame));

    // Locomotion to the next frame; near the wall, steer back towards the centre.
    double turn = m.turn_rate;
    const double r = position.norm();
    if (r > 0.7 * options.room_radius) {
      const double to_centre = std::atan2(position.x(), -position.y()) / kDegree;  // heading to origin
      double error = std::remainder(to_centre - heading, 360.0);
      turn += std::clamp(error, -90.0, 90.0) * (r / options.room_radius);
    }
    heading = std::remainder(heading + turn * dt, 360.0);
    const Eigen::Vector2d forward = (Rz(heading) * Eigen::Vector3d::UnitY()).head<2>();
    Eigen::Vector2d next = position + m.speed * dt * forward;
    if (next.norm() > options.room_radius) next *= options.room_radius / next.norm();
    position = next;
  }
}

}  // namespace

bool SyntheticH36MOptions::IsValid(std::string* error) const {
  auto fail = [error](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  auto probability = [](double p) { return std::isfinite(p) && p >= 0.0 && p <= 1.0; };
  if (sequences_per_action < 1) return fail("sequences_per_action must be at least 1");
  if (frames_per_sequence < 1) return fail("frames_per_sequence must be at least 1");
  if (!(std::isfinite(frame_period) && frame_period > 0.0)) {
    return fail("frame_period must be positive and finite");
  }
  if (!(std::isfinite(pixel_noise) && pixel_noise >= 0.0)) {
    return fail("pixel_noise must be non-negative and finite");
  }
  if (!probability(miss_probability)) return fail("miss_probability must be in [0, 1]");
  if (!probability(swap_probability)) return fail("swap_probability must be in [0, 1]");
  if (!probability(outlier_probability)) return fail("outlier_probability must be in [0, 1]");
  if (!(std::isfinite(outlier_pixels) && outlier_pixels >= 0.0)) {
    return fail("outlier_pixels must be non-negative and finite");
  }
  if (!(std::isfinite(room_radius) && room_radius >= 0.0 && room_radius <= 1500.0)) {
    return fail("room_radius must be in [0, 1500] mm (the cameras' field of view)");
  }
  return true;
}

const std::vector<std::string>& ActionNames() {
  static const std::vector<std::string> names = {
      "Directions", "Discussion", "Eating",  "Greeting", "Phoning",
      "Photo",      "Posing",     "Purchases", "Sitting", "SittingDown",
      "Smoking",    "Waiting",    "WalkDog", "Walking",  "WalkTogether"};
  return names;
}

int ActionIndex(const std::string& name) {
  const auto& names = ActionNames();
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

const std::vector<int>& TrainSubjects() {
  static const std::vector<int> subjects = {1, 5, 6, 7, 8};
  return subjects;
}

const std::vector<int>& TestSubjects() {
  static const std::vector<int> subjects = {9, 11};
  return subjects;
}

std::vector<Camera> H36MLikeCameras() {
  // Positions (mm), focal lengths and principal points rounded from the
  // Human3.6M calibration (cameras 54138969, 55011271, 58860488, 60457274).
  return {LookAt("cam1", Eigen::Vector3d(1842.0, 4955.0, 1563.0), 1145.0,
                 Eigen::Vector2d(512.5, 515.5)),
          LookAt("cam2", Eigen::Vector3d(1762.0, -5078.0, 1606.0), 1149.7,
                 Eigen::Vector2d(508.8, 508.1)),
          LookAt("cam3", Eigen::Vector3d(-1847.0, 5215.0, 1491.0), 1149.1,
                 Eigen::Vector2d(519.8, 501.4)),
          LookAt("cam4", Eigen::Vector3d(-1795.0, -3722.0, 1574.0), 1145.5,
                 Eigen::Vector2d(514.0, 501.9))};
}

std::array<double, kNumJoints> SubjectBoneLengths(int subject) {
  CHECK_GT(subject, 0) << "subject numbers are positive";
  // A Human3.6M-like adult (mm), scaled per subject: the Human3.6M subjects
  // 1, 5 and 7 are women, 6, 8, 9 and 11 men.
  std::array<double, kNumJoints> base{};
  base[kRightHip] = 133.0;
  base[kRightKnee] = 443.0;
  base[kRightFoot] = 454.0;
  base[kSpine] = 234.0;
  base[kThorax] = 252.0;
  base[kNeck] = 118.0;
  base[kHead] = 116.0;
  base[kRightShoulder] = 150.0;
  base[kRightElbow] = 281.0;
  base[kRightWrist] = 250.0;
  Random random(Mix(0x5eed0f5ab1ec7ULL ^ static_cast<uint64_t>(subject)));
  const bool woman = subject == 1 || subject == 5 || subject == 7;
  const double height = (woman ? 0.94 : 1.03) * (1.0 + 0.025 * random.Normal());
  std::array<double, kNumJoints> length{};
  for (int j : {kRightHip, kRightKnee, kRightFoot, kSpine, kThorax, kNeck, kHead,
                kRightShoulder, kRightElbow, kRightWrist}) {
    length[j] = base[j] * height * (1.0 + 0.03 * random.Normal());
    if (MirrorJoint(j) != j) length[MirrorJoint(j)] = length[j];
  }
  return length;
}

Status GenerateSyntheticH36M(const SyntheticH36MOptions& options, const std::vector<int>& subjects,
                             Dataset* dataset) {
  CHECK(dataset != nullptr);
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError("SyntheticH36MOptions: " + error);
  std::set<int> seen;
  for (int subject : subjects) {
    if (subject <= 0) {
      return InvalidArgumentError("subject " + std::to_string(subject) + " is not positive");
    }
    if (!seen.insert(subject).second) {
      return InvalidArgumentError("subject " + std::to_string(subject) + " is listed twice");
    }
  }
  dataset->cameras = H36MLikeCameras();
  dataset->frames.clear();
  dataset->frames.reserve(subjects.size() * ActionNames().size() *
                          options.sequences_per_action * options.frames_per_sequence);
  const JointErrorModel errors = MakeJointErrorModel(options);
  for (int subject : subjects) {
    for (int action = 0; action < static_cast<int>(ActionNames().size()); ++action) {
      for (int sequence = 0; sequence < options.sequences_per_action; ++sequence) {
        GenerateSequence(options, dataset->cameras, errors, subject, action, sequence,
                         &dataset->frames);
      }
    }
  }
  return Status::Ok();
}

}  // namespace human_pose
