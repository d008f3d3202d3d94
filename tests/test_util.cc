#include "tests/test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "server/model_manager.h"

extern char** environ;

namespace aisle::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Protobuf wire encoding of a message with one length-delimited field.
std::string EncodeStringField(int field, const std::string& value) {
  std::string out;
  out.push_back(static_cast<char>((field << 3) | 2));
  size_t n = value.size();
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7F) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  out += value;
  return out;
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

std::string ToString(const grpc::Status& status) {
  return absl::StrCat("grpc code ", status.error_code(), ": ",
                      status.error_message());
}

}  // namespace

// --- TempDir -----------------------------------------------------------------

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr ? base : "/tmp", "/aisle-test-XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    std::abort();  // nothing sensible a test can do without a temp dir
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::Sub(const std::string& name) const {
  return absl::StrCat(path_, "/", name);
}

// --- In-process server
// ---------------------------------------------------------

server::ServerConfig TestServerConfig(const std::string& data_dir) {
  server::ServerConfig config;
  config.host = "127.0.0.1";
  config.port = 0;
  // The exposer (civetweb) takes ~2 s to stop; tests that scrape turn it on.
  config.metrics_port = -1;
  config.data_dir = data_dir;
  config.model_poll_interval_ms = -1;
  config.access_log_sample = 0;
  config.shutdown_grace_ms = 5000;
  config.block_cache_bytes = 8 << 20;
  return config;
}

std::string TestServer::address() const {
  return absl::StrCat("127.0.0.1:", server->port());
}

absl::StatusOr<TestServer> StartTestServer(const server::ServerConfig& config) {
  absl::StatusOr<std::unique_ptr<server::AisleServer>> server =
      server::AisleServer::Start(config);
  if (!server.ok()) return server.status();
  TestServer result;
  result.server = *std::move(server);
  result.channel = MakeChannel(result.address());
  result.stub = v1::Recommender::NewStub(result.channel);
  return result;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  args.SetMaxReceiveMessageSize(64 << 20);
  // Servers under test often start after the first connection attempt;
  // reconnect quickly instead of gRPC's default 1 s+ backoff. Not
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also uses it as the deadline
  // of each connection attempt (default 20 s), and at 50 ms a loaded
  // machine's handshake missed it ("connection attempt timed out before
  // receiving SETTINGS frame"): the first call to a node then failed
  // with UNAVAILABLE (the flaky cluster tests).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

std::unique_ptr<v1::Recommender::Stub> MakeStub(const std::string& address) {
  return v1::Recommender::NewStub(MakeChannel(address));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbering.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(
    std::chrono::milliseconds timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

// --- Health and reflection
// -----------------------------------------------------

absl::StatusOr<int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service,
                                std::chrono::milliseconds timeout) {
  // No generated health stub is installed; the messages are one field each,
  // so they are encoded by hand.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::ByteBuffer request =
      ToByteBuffer(service.empty() ? "" : EncodeStringField(1, service));
  grpc::ByteBuffer response;
  grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                   grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Status status =
      grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
          channel.get(), method, &context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("health check: ", ToString(status)));
  }
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(FromByteBuffer(response))) {
    return absl::DataLossError("health check: unparsable response");
  }
  int serving_status = 0;
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() == 1 &&
        fields.field(i).type() == google::protobuf::UnknownField::TYPE_VARINT) {
      serving_status = static_cast<int>(fields.field(i).varint());
    }
  }
  return serving_status;
}

absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>
      stream(grpc::internal::ClientReaderWriterFactory<
             grpc::ByteBuffer, grpc::ByteBuffer>::Create(channel.get(), method,
                                                         &context));
  // ServerReflectionRequest { list_services = 7: "*" }.
  if (!stream->Write(ToByteBuffer(EncodeStringField(7, "*")))) {
    return absl::UnavailableError("reflection: write failed");
  }
  stream->WritesDone();
  grpc::ByteBuffer response;
  std::vector<std::string> services;
  bool got_response = false;
  while (stream->Read(&response)) {
    got_response = true;
    google::protobuf::UnknownFieldSet top;
    if (!top.ParseFromString(FromByteBuffer(response))) {
      return absl::DataLossError("reflection: unparsable response");
    }
    for (int i = 0; i < top.field_count(); ++i) {
      // ServerReflectionResponse.list_services_response = 6 {
      //   repeated ServiceResponse service = 1 { string name = 1; } }
      if (top.field(i).number() != 6 ||
          top.field(i).type() !=
              google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
        continue;
      }
      google::protobuf::UnknownFieldSet list;
      list.ParseFromString(top.field(i).length_delimited());
      for (int j = 0; j < list.field_count(); ++j) {
        if (list.field(j).number() != 1) continue;
        google::protobuf::UnknownFieldSet entry;
        entry.ParseFromString(list.field(j).length_delimited());
        for (int k = 0; k < entry.field_count(); ++k) {
          if (entry.field(k).number() == 1) {
            services.push_back(entry.field(k).length_delimited());
          }
        }
      }
    }
  }
  grpc::Status status = stream->Finish();
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("reflection: ", ToString(status)));
  }
  if (!got_response) return absl::DataLossError("reflection: no response");
  return services;
}

absl::Status WaitForServing(const std::string& address,
                            std::chrono::milliseconds timeout,
                            const std::string& service) {
  std::shared_ptr<grpc::Channel> channel = MakeChannel(address);
  const auto deadline = Clock::now() + timeout;
  std::string last = "no answer yet";
  while (Clock::now() < deadline) {
    absl::StatusOr<int> status =
        HealthCheck(channel, service, std::chrono::milliseconds(500));
    if (status.ok() && *status == 1) return absl::OkStatus();
    last = status.ok() ? absl::StrCat("status ", *status)
                       : status.status().ToString();
    // Connection attempts back off inside gRPC; a short pause between polls
    // keeps a not-yet-listening server from being hammered.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(address, " not SERVING in time; last: ", last));
}

// --- Sockets
// -----------------------------------------------------------------------

int PickUnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::map<std::string, double> ParseMetricSamples(const std::string& text) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    samples[std::string(line.substr(0, space))] =
        std::stod(std::string(line.substr(space + 1)));
  }
  return samples;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Errno("socket");
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status status = Errno(absl::StrCat("connect to port ", port));
    close(fd);
    return status;
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, 0);
    if (n <= 0) {
      absl::Status status = Errno("send");
      close(fd);
      return status;
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[8192];
  while (true) {
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0) {
      absl::Status status = Errno("recv");
      close(fd);
      return status;
    }
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::DataLossError("HTTP response without a header end");
  }
  if (response.compare(0, 12, "HTTP/1.1 200") != 0 &&
      response.compare(0, 12, "HTTP/1.0 200") != 0) {
    return absl::UnavailableError(
        absl::StrCat("HTTP status: ", response.substr(0, response.find('\r'))));
  }
  return response.substr(header_end + 4);
}

// --- Child processes
// ----------------------------------------------------------------

std::string AisleBinary() {
#ifdef AISLE_BIN
  return AISLE_BIN;
#else
  const char* bin = std::getenv("AISLE_BIN");
  return bin != nullptr ? bin : "aisle";
#endif
}

absl::StatusOr<std::unique_ptr<AisleProcess>> AisleProcess::Spawn(
    const std::vector<std::string>& args,
    const std::map<std::string, std::string>& env, const std::string& log_dir) {
  std::unique_ptr<AisleProcess> process(new AisleProcess());
  const std::string binary = AisleBinary();

  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::map<std::string, std::string> merged;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry = *e;
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    merged[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : env) merged[key] = value;
  std::vector<std::string> env_storage;
  for (const auto& [key, value] : merged) {
    env_storage.push_back(absl::StrCat(key, "=", value));
  }
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  // posix_spawn rather than fork: the test process runs gRPC threads, and
  // only exec is safe in a forked child of a threaded process.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_dir.empty()) {
    static std::atomic<int> counter{0};
    const int id = counter.fetch_add(1);
    process->stdout_path_ = absl::StrCat(log_dir, "/aisle-", id, ".out");
    process->stderr_path_ = absl::StrCat(log_dir, "/aisle-", id, ".err");
    posix_spawn_file_actions_addopen(&actions, 1, process->stdout_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, process->stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  // The child must not inherit blocked signals from a test harness thread.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, &attr, argv.data(),
                       envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("spawning ", binary, ": ", std::strerror(rc)));
  }
  process->pid_ = pid;
  return process;
}

AisleProcess::~AisleProcess() {
  if (pid_ > 0 && !exit_code_.has_value()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

absl::Status AisleProcess::Signal(int signo) {
  if (exit_code_.has_value()) {
    return absl::FailedPreconditionError("the process has already exited");
  }
  if (kill(pid_, signo) != 0) return Errno("kill");
  return absl::OkStatus();
}

std::optional<int> AisleProcess::TryWait() {
  if (exit_code_.has_value()) return exit_code_;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status)     ? WEXITSTATUS(status)
                 : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                       : -1;
  }
  return exit_code_;
}

absl::StatusOr<int> AisleProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (std::optional<int> code = TryWait(); code.has_value()) return *code;
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "pid ", pid_, " still running after ", timeout.count(), " ms"));
    }
    // waitpid has no timeout; poll the exit status at a short interval.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

namespace {
std::string Slurp(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}
}  // namespace

std::string AisleProcess::Stdout() const { return Slurp(stdout_path_); }
std::string AisleProcess::Stderr() const { return Slurp(stderr_path_); }

absl::StatusOr<RunResult> RunAisle(
    const std::vector<std::string>& args,
    const std::map<std::string, std::string>& env,
    std::chrono::milliseconds timeout) {
  TempDir logs;
  absl::StatusOr<std::unique_ptr<AisleProcess>> process =
      AisleProcess::Spawn(args, env, logs.path());
  if (!process.ok()) return process.status();
  absl::StatusOr<int> code = (*process)->Wait(timeout);
  if (!code.ok()) return code.status();
  RunResult result;
  result.exit_code = *code;
  result.out = (*process)->Stdout();
  result.err = (*process)->Stderr();
  return result;
}

namespace {

// The port in aisle serve's start-up line ("... gRPC on <host>:<port> (...")
// of its captured stderr, or 0 while the line is not there yet (an earlier
// warning names the requested port, 0).
int ListeningPortInLog(const std::string& log) {
  static constexpr std::string_view kMarker = "gRPC on 127.0.0.1:";
  for (size_t at = log.find(kMarker); at != std::string::npos;
       at = log.find(kMarker, at + 1)) {
    const size_t begin = at + kMarker.size();
    const size_t end = log.find_first_not_of("0123456789", begin);
    if (end == std::string::npos || end == begin) continue;
    int port = 0;
    if (absl::SimpleAtoi(log.substr(begin, end - begin), &port) && port > 0) {
      return port;
    }
  }
  return 0;
}

}  // namespace

absl::StatusOr<ServeProcess> SpawnServe(
    const std::string& data_dir, const std::vector<std::string>& extra_args,
    const std::string& log_dir, std::chrono::milliseconds timeout) {
  ServeProcess serve;
  // The kernel picks the port (--port 0) and the server's log names it: a
  // port picked here and bound later could be taken by a concurrent test's
  // server in between, and then both would fail or answer for each other.
  // The log is needed to read the port, so it is kept somewhere always.
  std::string logs = log_dir;
  if (logs.empty()) {
    serve.logs = std::make_shared<TempDir>();
    logs = serve.logs->path();
  }
  std::vector<std::string> args = {"serve",     "--data-dir",
                                   data_dir,    "--host",
                                   "127.0.0.1", "--port",
                                   "0",         "--metrics-port",
                                   "-1",        "--model-poll-interval",
                                   "-1"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<std::unique_ptr<AisleProcess>> process =
      AisleProcess::Spawn(args, {}, logs);
  if (!process.ok()) return process.status();
  serve.process = *std::move(process);

  const auto deadline = Clock::now() + timeout;
  std::string last = "no answer yet";
  while (Clock::now() < deadline) {
    if (std::optional<int> code = serve.process->TryWait(); code.has_value()) {
      return absl::UnavailableError(
          absl::StrCat("aisle serve exited with code ", *code,
                       " before serving; stderr:\n", serve.process->Stderr()));
    }
    if (serve.port == 0) {
      serve.port = ListeningPortInLog(serve.process->Stderr());
      if (serve.port == 0) {
        last = "no listening port in its log yet";
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      serve.address = absl::StrCat("127.0.0.1:", serve.port);
    }
    // A fresh channel per poll: a channel whose first connect raced the
    // server's start-up keeps failing its handshakes for ~5 s.
    std::shared_ptr<grpc::Channel> channel = MakeChannel(serve.address);
    // The service-specific status is set only once loading is done.
    absl::StatusOr<int> status = HealthCheck(channel, "aisle.v1.Recommender",
                                             std::chrono::milliseconds(500));
    if (status.ok() && *status == 1) return serve;
    last = status.ok() ? absl::StrCat("status ", *status)
                       : status.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "aisle serve (", serve.address.empty() ? "port unknown" : serve.address,
      ") not SERVING in time; last: ", last, "; stderr:\n",
      serve.process->Stderr()));
}

core::TrainingOptions SmallModelOptions(const std::string& version) {
  core::TrainingOptions options;
  options.als.factors = 8;
  options.als.iterations = 10;
  options.als.regularization = 0.5f;
  options.als.threads = 1;
  options.validate_fraction = 0;
  options.version = version;
  return options;
}

absl::Status DropModelInInbox(const std::string& data_dir,
                              const std::string& file_name,
                              const std::string& blob) {
  const fs::path inbox = server::ModelInboxDir(data_dir);
  std::error_code ec;
  fs::create_directories(inbox, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("creating ", inbox.string(), ": ", ec.message()));
  }
  const fs::path tmp = inbox / (file_name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary);
    out << blob;
    if (!out.flush()) {
      return absl::InternalError(absl::StrCat("writing ", tmp.string()));
    }
  }
  fs::rename(tmp, inbox / file_name, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("renaming ", tmp.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status TrainAndServeModel(server::AisleServer& server,
                                const core::TrainingOptions& options) {
  absl::StatusOr<core::TrainedModel> trained = core::TrainModelVersion(
      server.engine().ExportTrainingData(), options, core::ModelOptions{});
  if (!trained.ok()) return trained.status();
  if (absl::Status s =
          DropModelInInbox(server.config().data_dir, options.version + ".model",
                           trained->model->Serialize());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = server.PollModelsOnce(); !s.ok()) return s;
  server.engine().WaitForRefold();
  return absl::OkStatus();
}

}  // namespace aisle::testing
