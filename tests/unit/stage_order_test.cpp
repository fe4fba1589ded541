// Stage order for a plan made from scratch: listed names first in the listed order, the others
// after them in registration order; no list keeps the registration order.
#include "coordinator/control/stage_order.h"

#include <gtest/gtest.h>

namespace ps::coord {
namespace {

std::vector<WorkerRecord> Registered(const std::vector<std::string>& names) {
  std::vector<WorkerRecord> out;
  for (const std::string& n : names) {
    WorkerRecord w;
    w.name = n;
    out.push_back(w);
  }
  return out;
}

std::vector<std::string> Names(const std::vector<WorkerRecord>& workers) {
  std::vector<std::string> out;
  for (const WorkerRecord& w : workers) out.push_back(w.name);
  return out;
}

TEST(StageOrder, ListedNamesFirstThenRegistrationOrder) {
  std::vector<WorkerRecord> w = Registered({"w2", "spare", "w0", "w1", "extra"});
  OrderForStages({"w0", "w1", "w2"}, &w);
  EXPECT_EQ(Names(w), (std::vector<std::string>{"w0", "w1", "w2", "spare", "extra"}));
}

TEST(StageOrder, NoListKeepsRegistrationOrder) {
  std::vector<WorkerRecord> w = Registered({"w1", "w0"});
  OrderForStages({}, &w);
  EXPECT_EQ(Names(w), (std::vector<std::string>{"w1", "w0"}));
  // A listed name that never registered changes nothing for the others.
  OrderForStages({"gone", "w0"}, &w);
  EXPECT_EQ(Names(w), (std::vector<std::string>{"w0", "w1"}));
}

}  // namespace
}  // namespace ps::coord
