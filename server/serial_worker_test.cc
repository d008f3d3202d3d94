#include "server/serial_worker.h"

#include <vector>

#include "gtest/gtest.h"

namespace aisle::server {
namespace {

TEST(SerialWorkerTest, RunsTasksInOrderAndDrainsOnDestruction) {
  std::vector<int> order;  // only the worker thread writes it
  {
    SerialWorker worker;
    for (int i = 0; i < 100; ++i) {
      worker.Post([&order, i] { order.push_back(i); });
    }
  }  // the destructor runs what is still queued
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace
}  // namespace aisle::server
