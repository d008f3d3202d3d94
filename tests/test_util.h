// Helpers for integration tests: temporary directories, an in-process
// AisleServer on ephemeral ports, gRPC stubs with deadlines, and a child
// process running the real `aisle` binary (AISLE_BIN).
//
// Nothing here sleeps for a fixed time: waits poll a condition until a
// deadline.
#ifndef AISLE_TESTS_TEST_UTIL_H_
#define AISLE_TESTS_TEST_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "core/training.h"
#include "grpcpp/grpcpp.h"
#include "server/config.h"
#include "server/server.h"

namespace aisle::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed (recursively) when
// the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Sub(const std::string& name) const;

 private:
  std::string path_;
};

// A ServerConfig for tests: 127.0.0.1, gRPC port 0, metrics disabled (set
// metrics_port = 0 for an ephemeral one), the given data dir, no
// background model poller, access log off.
server::ServerConfig TestServerConfig(const std::string& data_dir);

// An in-process server plus a channel to it.
struct TestServer {
  std::unique_ptr<server::AisleServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Recommender::Stub> stub;
  std::string address() const;  // "127.0.0.1:<port>"
};
// Starts AisleServer with `config` and connects a stub.
absl::StatusOr<TestServer> StartTestServer(const server::ServerConfig& config);

// An insecure channel to `address` with max message sizes large enough to
// send oversized requests (so the server, not the client, rejects them).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);
std::unique_ptr<v1::Recommender::Stub> MakeStub(const std::string& address);

// The same code and message as an absl::Status, so that gRPC results work
// with the status matchers: EXPECT_OK(FromGrpc(stub->Recommend(...))).
absl::Status FromGrpc(const grpc::Status& status);

// A ClientContext whose deadline is now + timeout.
std::unique_ptr<grpc::ClientContext> ContextWithDeadline(
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Polls the standard health service for `service` ("" = whole server)
// until it reports SERVING or the timeout expires. DeadlineExceeded on
// timeout with the last observed state in the message.
absl::Status WaitForServing(const std::string& address,
                            std::chrono::milliseconds timeout,
                            const std::string& service = "");

// One grpc.health.v1.Health/Check call: the reported status (0 UNKNOWN,
// 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN) or the RPC error.
absl::StatusOr<int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service,
                                std::chrono::milliseconds timeout);

// The services listed by the server reflection service
// (grpc.reflection.v1alpha.ServerReflection, list_services).
absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel);

// A free TCP port on 127.0.0.1 (bound then released; small race window).
int PickUnusedPort();

// Raw HTTP/1.0 GET of http://127.0.0.1:<port><path>; returns the body.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// The samples of a Prometheus text exposition: "name{labels}" -> value
// (comment lines skipped).
std::map<std::string, double> ParseMetricSamples(const std::string& text);

// A child process running the real `aisle` binary.
class AisleProcess {
 public:
  // Starts AISLE_BIN with `args` (not including the program name), extra
  // environment entries added to the inherited environment. stdout and
  // stderr go to files in `log_dir` (or are inherited if empty).
  static absl::StatusOr<std::unique_ptr<AisleProcess>> Spawn(
      const std::vector<std::string>& args,
      const std::map<std::string, std::string>& env = {},
      const std::string& log_dir = "");
  // Kills (SIGKILL) and reaps the child if still running.
  ~AisleProcess();
  AisleProcess(const AisleProcess&) = delete;
  AisleProcess& operator=(const AisleProcess&) = delete;

  pid_t pid() const { return pid_; }
  absl::Status Signal(int signo);
  // Waits for exit; returns the exit code, or 128 + signal number if it was
  // killed by a signal. DeadlineExceeded if still running after timeout.
  absl::StatusOr<int> Wait(std::chrono::milliseconds timeout);
  // Non-blocking: the exit code if the child has exited.
  std::optional<int> TryWait();
  // Contents of the captured stdout / stderr so far ("" if not captured).
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  AisleProcess() = default;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string stdout_path_;
  std::string stderr_path_;
};

// Runs `aisle args...` to completion (timeout), returning exit code and
// captured output.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
absl::StatusOr<RunResult> RunAisle(
    const std::vector<std::string>& args,
    const std::map<std::string, std::string>& env = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Spawns `aisle serve --data-dir <data_dir> --port 0 --metrics-port -1
// --model-poll-interval -1 <extra_args>` and waits until it is SERVING; the
// port is the one the server reports in its log (captured in `log_dir`, or
// in a directory of its own when `log_dir` is empty).
struct ServeProcess {
  std::unique_ptr<AisleProcess> process;
  std::string address;  // "127.0.0.1:<port>"
  int port = 0;
  std::shared_ptr<TempDir> logs;  // set when no log_dir was given
};
absl::StatusOr<ServeProcess> SpawnServe(
    const std::string& data_dir, const std::vector<std::string>& extra_args,
    const std::string& log_dir,
    std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Training options for a small, quick model on a test server's events: 8
// factors, 10 ALS iterations, regularization 0.5, one thread, no holdout,
// version `version`; segments as TrainingOptions' default.
core::TrainingOptions SmallModelOptions(const std::string& version);

// Writes `blob` as <data_dir>/model-inbox/<file_name> the way `aisle train`
// does (a temporary file, then a rename), creating the inbox if needed.
// Internal on a file error.
absl::Status DropModelInInbox(const std::string& data_dir,
                              const std::string& file_name,
                              const std::string& blob);

// Trains a model with `options` on `server`'s events, drops it into the
// server's inbox as <options.version>.model, has the server install it
// (PollModelsOnce) and waits until every user is re-folded against it.
// Errors: training's, DropModelInInbox's, PollModelsOnce's.
absl::Status TrainAndServeModel(server::AisleServer& server,
                                const core::TrainingOptions& options);

// The path of the `aisle` binary under test.
std::string AisleBinary();

}  // namespace aisle::testing

#endif  // AISLE_TESTS_TEST_UTIL_H_
