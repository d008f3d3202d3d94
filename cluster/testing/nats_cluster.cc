#include "cluster/testing/nats_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nats/nats.h"

namespace aisle::cluster::testing {
namespace {

namespace fs = std::filesystem;

// A short-lived connection to one server for the readiness probes below:
// 500 ms to connect, no reconnection, a JetStream context whose requests
// wait `wait_ms`.
class Probe {
 public:
  Probe(const std::string& url, int64_t wait_ms) {
    if (natsOptions_Create(&options_) != NATS_OK) return;
    natsOptions_SetURL(options_, url.c_str());
    natsOptions_SetTimeout(options_, 500);
    natsOptions_SetMaxReconnect(options_, 0);
    if (natsConnection_Connect(&conn_, options_) != NATS_OK) {
      conn_ = nullptr;
      return;
    }
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = wait_ms;
    if (natsConnection_JetStream(&js_, conn_, &js_options) != NATS_OK) {
      js_ = nullptr;
    }
  }
  ~Probe() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (conn_ != nullptr) natsConnection_Destroy(conn_);
    if (options_ != nullptr) natsOptions_Destroy(options_);
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  bool connected() const { return conn_ != nullptr; }
  jsCtx* js() const { return js_; }  // null when not connected

 private:
  natsOptions* options_ = nullptr;
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
};

// Whether JetStream answers an account-info request on `url` within a
// short timeout (in a JetStream cluster that needs an elected meta leader).
bool JetStreamAnswers(const std::string& url) {
  Probe probe(url, 500);
  jsAccountInfo* info = nullptr;
  const bool ok =
      probe.js() != nullptr &&
      js_GetAccountInfo(&info, probe.js(), nullptr, nullptr) == NATS_OK;
  if (info != nullptr) jsAccountInfo_Destroy(info);
  return ok;
}

// Whether JetStream (through `url`) can place a stream with `replicas`
// replicas now: it creates, then deletes, a small probe stream. A cluster
// whose servers all answer may not know all its peers yet ("no suitable
// peers for placement"), and then a node's first write fails.
bool CanPlaceStream(const std::string& url, int replicas) {
  Probe probe(url, 2000);
  if (probe.js() == nullptr) return false;
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const char* subjects[] = {"aisle-test.placement-probe"};
  config.Name = "PLACEMENT_PROBE";
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_MemoryStorage;
  config.Replicas = replicas;
  jsStreamInfo* info = nullptr;
  const bool ok =
      js_AddStream(&info, probe.js(), &config, nullptr, nullptr) == NATS_OK;
  if (info != nullptr) jsStreamInfo_Destroy(info);
  if (ok) js_DeleteStream(probe.js(), "PLACEMENT_PROBE", nullptr, nullptr);
  return ok;
}

// "" when `stream` (seen through `url`) has a leader and all replicas
// online and current, else what is missing.
std::string StreamProblem(const std::string& url, const std::string& stream,
                          int expected_replicas) {
  Probe probe(url, 1000);
  if (!probe.connected()) return "cannot connect";
  jsStreamInfo* info = nullptr;
  std::string problem;
  if (probe.js() == nullptr ||
      js_GetStreamInfo(&info, probe.js(), stream.c_str(), nullptr, nullptr) !=
          NATS_OK) {
    problem = "no stream info";
  } else if (expected_replicas > 1) {
    const jsClusterInfo* cluster = info->Cluster;
    if (cluster == nullptr || cluster->Leader == nullptr ||
        *cluster->Leader == '\0') {
      problem = "no leader";
    } else if (cluster->ReplicasLen != expected_replicas - 1) {
      problem = absl::StrCat(cluster->ReplicasLen, " followers");
    } else {
      for (int r = 0; r < cluster->ReplicasLen; ++r) {
        const jsPeerInfo* peer = cluster->Replicas[r];
        if (peer->Offline || !peer->Current) {
          problem = absl::StrCat("replica ", peer->Name, " not current");
        }
      }
    }
  }
  if (info != nullptr) jsStreamInfo_Destroy(info);
  return problem;
}

std::string MakeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr ? base : "/tmp", "/aisle-nats-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) return "";
  return pattern;
}

}  // namespace

absl::StatusOr<std::string> NatsServerBinary() {
  if (const char* env = std::getenv("AISLE_NATS_SERVER"); env != nullptr) {
    return std::string(env);
  }
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    dirs = absl::StrSplit(path, ':', absl::SkipEmpty());
  }
  dirs.push_back("/usr/sbin");
  dirs.push_back("/usr/bin");
  for (const std::string& dir : dirs) {
    const std::string candidate = dir + "/nats-server";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(
      "nats-server not found (PATH, /usr/sbin, $AISLE_NATS_SERVER): run "
      "scripts/setup.sh to install it");
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<NatsCluster>> NatsCluster::Start(
    int servers, absl::Duration timeout) {
  if (servers != 1 && servers != 3) {
    return absl::InvalidArgumentError("NatsCluster: 1 or 3 servers");
  }
  absl::StatusOr<std::string> binary = NatsServerBinary();
  if (!binary.ok()) return binary.status();
  std::unique_ptr<NatsCluster> cluster(new NatsCluster());
  cluster->binary_ = *binary;
  cluster->dir_ = MakeTempDir();
  if (cluster->dir_.empty()) {
    return absl::UnavailableError("cannot create a temporary directory");
  }
  cluster->servers_.resize(servers);
  for (int i = 0; i < servers; ++i) {
    Server& s = cluster->servers_[i];
    s.client_port = FreeLoopbackPort();
    s.route_port = FreeLoopbackPort();
    s.store_dir = absl::StrCat(cluster->dir_, "/n", i);
    s.log_path = absl::StrCat(cluster->dir_, "/n", i, ".log");
    if (s.client_port == 0 || s.route_port == 0) {
      return absl::UnavailableError("no free loopback port");
    }
  }
  for (int i = 0; i < servers; ++i) {
    if (absl::Status s = cluster->Spawn(i); !s.ok()) return s;
  }
  const absl::Time deadline = absl::Now() + timeout;
  for (int i = 0; i < servers; ++i) {
    absl::Status s = cluster->WaitReady(i, deadline - absl::Now());
    if (!s.ok()) return s;
  }
  // Ready means a stream with every server as a replica can be created
  // (what the first write of a node does), not only that each answers.
  while (servers > 1 && !CanPlaceStream(cluster->url(0), servers)) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the ", servers,
                       " NATS servers cannot place a replicated stream in "
                       "time:\n",
                       cluster->LogTail(0)));
    }
    // Polling interval, bounded by the deadline above.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cluster;
}

NatsCluster::~NatsCluster() {
  for (int i = 0; i < size(); ++i) Kill(i).IgnoreError();
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string NatsCluster::url(int i) const {
  return absl::StrCat("nats://127.0.0.1:", servers_[i].client_port);
}

std::vector<std::string> NatsCluster::urls() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(url(i));
  return out;
}

std::string NatsCluster::url_list() const { return absl::StrJoin(urls(), ","); }

absl::Status NatsCluster::Spawn(int i) {
  Server& s = servers_[i];
  std::vector<std::string> args = {
      binary_, "-a",  "127.0.0.1", "-p", absl::StrCat(s.client_port),
      "-js",   "-sd", s.store_dir, "-n", absl::StrCat("n", i)};
  if (size() > 1) {
    std::vector<std::string> routes;
    for (const Server& other : servers_) {
      routes.push_back(absl::StrCat("nats://127.0.0.1:", other.route_port));
    }
    args.insert(args.end(), {"--cluster_name", "aisle-test", "--cluster",
                             absl::StrCat("nats://127.0.0.1:", s.route_port),
                             "--routes", absl::StrJoin(routes, ",")});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::UnavailableError("fork failed");
  if (pid == 0) {
    // The server must not outlive a test that crashed.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(s.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  s.pid = pid;
  return absl::OkStatus();
}

absl::Status NatsCluster::Kill(int i) {
  Server& s = servers_[i];
  if (s.pid <= 0) return absl::OkStatus();
  kill(s.pid, SIGKILL);
  int status = 0;
  waitpid(s.pid, &status, 0);
  s.pid = -1;
  return absl::OkStatus();
}

absl::Status NatsCluster::Restart(int i, absl::Duration timeout) {
  if (absl::Status s = Kill(i); !s.ok()) return s;
  if (absl::Status s = Spawn(i); !s.ok()) return s;
  return WaitReady(i, timeout);
}

absl::Status NatsCluster::WaitReady(int i, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    if (servers_[i].pid > 0 && waitpid(servers_[i].pid, &status, WNOHANG) > 0) {
      servers_[i].pid = -1;
      return absl::FailedPreconditionError(absl::StrCat(
          "nats-server ", i, " exited at start-up:\n", LogTail(i)));
    }
    if (JetStreamAnswers(url(i))) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("nats-server ", i, " (", url(i),
                       ") not ready with JetStream in time:\n", LogTail(i)));
    }
    // Polling interval, not a timing assumption: the loop is bounded by
    // the deadline above.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

absl::Status NatsCluster::WaitStreamHealthy(const std::string& stream,
                                            absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string problem;
  while (true) {
    for (int i = 0; i < size(); ++i) {
      if (servers_[i].pid <= 0) continue;
      problem = StreamProblem(url(i), stream, size());
      if (problem != "cannot connect") break;
    }
    if (problem.empty()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("stream ", stream, " not healthy in time: ", problem));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string NatsCluster::LogTail(int i) const {
  std::ifstream in(servers_[i].log_path);
  std::ostringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  if (text.size() > 2000) text = text.substr(text.size() - 2000);
  return text;
}

}  // namespace aisle::cluster::testing

namespace aisle::cluster::testing {

absl::Status SetBucketKey(const std::string& url, const std::string& bucket,
                          const std::string& key,
                          std::optional<std::string> value) {
  natsConnection* conn = nullptr;
  if (natsConnection_ConnectTo(&conn, url.c_str()) != NATS_OK) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", url));
  }
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;
  natsStatus s = natsConnection_JetStream(&js, conn, nullptr);
  if (s == NATS_OK) s = js_KeyValue(&kv, js, bucket.c_str());
  if (s == NATS_OK) {
    uint64_t revision = 0;
    s = value.has_value()
            ? kvStore_Put(&revision, kv, key.c_str(), value->data(),
                          static_cast<int>(value->size()))
            : kvStore_Purge(kv, key.c_str(), nullptr);
  }
  kvStore_Destroy(kv);
  jsCtx_Destroy(js);
  natsConnection_Destroy(conn);
  if (s != NATS_OK) {
    return absl::UnavailableError(absl::StrCat("setting ", bucket, "/", key,
                                               ": ", natsStatus_GetText(s)));
  }
  return absl::OkStatus();
}

absl::Status PurgeStreamBelow(const std::string& url, const std::string& stream,
                              uint64_t sequence) {
  natsConnection* conn = nullptr;
  if (natsConnection_ConnectTo(&conn, url.c_str()) != NATS_OK) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", url));
  }
  jsCtx* js = nullptr;
  natsStatus s = natsConnection_JetStream(&js, conn, nullptr);
  jsErrCode js_error = static_cast<jsErrCode>(0);
  if (s == NATS_OK) {
    jsOptions options;
    jsOptions_Init(&options);
    options.Stream.Purge.Sequence = sequence;
    s = js_PurgeStream(js, stream.c_str(), &options, &js_error);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(conn);
  if (s != NATS_OK) {
    return absl::UnavailableError(absl::StrCat(
        "purging ", stream, " below ", sequence, ": ", natsStatus_GetText(s),
        " (JetStream error ", static_cast<int>(js_error), ")"));
  }
  return absl::OkStatus();
}

}  // namespace aisle::cluster::testing
