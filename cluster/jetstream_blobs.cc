// BlobStore on a JetStream key-value bucket (blob_store.h has the
// contract), with the NATS C client (libnats 3.4). Keys of blob N:
//   <prefix(N)>.chunk.<i>   chunk i (i = 0..chunks-1), raw bytes
//   <prefix(N)>.manifest    "aisle-blob 1\nsize S\nchunks C\nsha256 H\n"
// The manifest is written after every chunk and deleted before them, so a
// manifest always describes a complete chunk set unless a chunk was lost
// or overwritten afterwards, which the SHA-256 check catches.
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cluster/blob_store.h"
#include "cluster/nats_connection.h"
#include "nats/nats.h"

namespace aisle::cluster {
namespace {

constexpr size_t kMaxNameBytes = 200;
constexpr char kManifestMagic[] = "aisle-blob 1";

struct KvDeleter {
  void operator()(kvStore* p) const { kvStore_Destroy(p); }
};
struct EntryDeleter {
  void operator()(kvEntry* p) const { kvEntry_Destroy(p); }
};

absl::Status Unavailable(natsStatus s, absl::string_view what) {
  return NatsError(s, static_cast<jsErrCode>(0), what);
}

// SHA-256 over bytes given in parts.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void Update(std::string_view bytes) {
    EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
  }
  // Lower-case hex; call once.
  std::string Hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &length);
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
      absl::StrAppendFormat(&hex, "%02x", digest[i]);
    }
    return hex;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

std::string ManifestText(const BlobInfo& info) {
  return absl::StrCat(kManifestMagic, "\nsize ", info.size, "\nchunks ",
                      info.chunks, "\nsha256 ", info.sha256, "\n");
}

// DataLoss when the text is not a manifest this version wrote.
absl::StatusOr<BlobInfo> ParseManifest(absl::string_view name,
                                       absl::string_view text) {
  BlobInfo info;
  bool magic = false;
  int fields = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    if (line == kManifestMagic) {
      magic = true;
      continue;
    }
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (kv.first == "size" && absl::SimpleAtoi(kv.second, &info.size)) {
      ++fields;
    } else if (kv.first == "chunks" &&
               absl::SimpleAtoi(kv.second, &info.chunks)) {
      ++fields;
    } else if (kv.first == "sha256" && kv.second.size() == 64) {
      info.sha256 = std::string(kv.second);
      ++fields;
    }
  }
  if (!magic || fields != 3 || info.size < 0 || info.chunks < 0) {
    return absl::DataLossError(absl::StrCat(
        "the manifest of blob \"", name, "\" is damaged or of another format"));
  }
  return info;
}

class JetStreamBlobs final : public BlobStore {
 public:
  explicit JetStreamBlobs(BlobStoreOptions options)
      : options_(std::move(options)) {
    if (options_.replicas <= 0) {
      options_.replicas =
          std::min<int>(3, static_cast<int>(options_.servers.size()));
    }
  }
  ~JetStreamBlobs() override {
    kv_.reset();
    js_.reset();
    if (conn_ != nullptr) natsConnection_Close(conn_.get());
  }

  absl::Status Connect();

  absl::StatusOr<BlobInfo> PutFrom(std::string_view name, uint64_t size,
                                   const BlobReader& read) override;
  absl::StatusOr<std::optional<BlobInfo>> Stat(std::string_view name) override;
  absl::StatusOr<BlobInfo> GetTo(std::string_view name,
                                 const BlobWriter& write) override;
  absl::Status Delete(std::string_view name) override;
  absl::StatusOr<std::vector<std::string>> List() override;

 private:
  // The bucket, opened (or created) on first use: a node starts while NATS
  // is down and gets its models once it is back.
  absl::StatusOr<kvStore*> Bucket();
  // The value of `key`; nullopt when it is not stored.
  absl::StatusOr<std::optional<std::string>> GetValue(kvStore* kv,
                                                      const std::string& key);

  BlobStoreOptions options_;
  std::unique_ptr<natsOptions, OptionsDeleter> nats_options_;
  std::unique_ptr<natsConnection, ConnectionDeleter> conn_;
  std::unique_ptr<jsCtx, JsDeleter> js_;
  std::mutex bucket_mu_;
  std::unique_ptr<kvStore, KvDeleter> kv_;  // guarded by bucket_mu_ (set once)
};

absl::Status JetStreamBlobs::Connect() {
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = Millis(options_.request_timeout);
  NatsConnection nats;
  if (absl::Status s = ConnectNats(options_.servers, options_.connection_name,
                                   NatsCallbacks(), &js_options, &nats);
      !s.ok()) {
    return s;
  }
  nats_options_ = std::move(nats.options);
  conn_ = std::move(nats.conn);
  js_ = std::move(nats.js);
  return absl::OkStatus();
}

absl::StatusOr<kvStore*> JetStreamBlobs::Bucket() {
  std::lock_guard<std::mutex> lock(bucket_mu_);
  if (kv_ != nullptr) return kv_.get();
  if (natsConnection_Status(conn_.get()) != NATS_CONN_STATUS_CONNECTED) {
    return absl::UnavailableError(absl::StrCat(
        "not connected to NATS (", absl::StrJoin(options_.servers, ","),
        "); the bucket ", options_.bucket, " cannot be reached"));
  }
  kvStore* raw = nullptr;
  natsStatus s = js_KeyValue(&raw, js_.get(), options_.bucket.c_str());
  if (s == NATS_NOT_FOUND) {
    kvConfig config;
    kvConfig_Init(&config);
    config.Bucket = options_.bucket.c_str();
    config.Description = options_.description.c_str();
    config.History = 1;
    config.StorageType = js_FileStorage;
    config.Replicas = options_.replicas;
    config.MaxValueSize =
        static_cast<int32_t>(std::max<int64_t>(options_.chunk_bytes, 4096));
    s = js_CreateKeyValue(&raw, js_.get(), &config);
  }
  if (s != NATS_OK) {
    return Unavailable(s, absl::StrCat("opening the bucket ", options_.bucket));
  }
  kv_.reset(raw);
  return kv_.get();
}

absl::StatusOr<std::optional<std::string>> JetStreamBlobs::GetValue(
    kvStore* kv, const std::string& key) {
  kvEntry* raw = nullptr;
  natsStatus s = kvStore_Get(&raw, kv, key.c_str());
  if (s == NATS_NOT_FOUND) return std::nullopt;
  if (s != NATS_OK) return Unavailable(s, absl::StrCat("reading ", key));
  std::unique_ptr<kvEntry, EntryDeleter> entry(raw);
  const char* data = static_cast<const char*>(kvEntry_Value(entry.get()));
  const int length = kvEntry_ValueLen(entry.get());
  return std::string(data == nullptr ? "" : data,
                     data == nullptr ? 0 : static_cast<size_t>(length));
}

absl::StatusOr<std::optional<BlobInfo>> JetStreamBlobs::Stat(
    std::string_view name_in) {
  const absl::string_view name(name_in.data(), name_in.size());
  if (name.empty() || name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob name must be 1..", kMaxNameBytes, " bytes"));
  }
  absl::StatusOr<kvStore*> kv = Bucket();
  if (!kv.ok()) return kv.status();
  absl::StatusOr<std::optional<std::string>> text =
      GetValue(*kv, BlobKeyPrefix(name_in) + ".manifest");
  if (!text.ok()) return text.status();
  if (!text->has_value()) return std::nullopt;
  absl::StatusOr<BlobInfo> info =
      ParseManifest(name, absl::string_view((*text)->data(), (*text)->size()));
  if (!info.ok()) return info.status();
  return *info;
}

absl::StatusOr<BlobInfo> JetStreamBlobs::PutFrom(std::string_view name_in,
                                                 uint64_t size,
                                                 const BlobReader& read) {
  const absl::string_view name(name_in.data(), name_in.size());
  absl::StatusOr<std::optional<BlobInfo>> existing = Stat(name_in);
  if (!existing.ok() && !absl::IsDataLoss(existing.status())) {
    return existing.status();
  }
  const int64_t chunk = std::max<int64_t>(options_.chunk_bytes, 1);
  BlobInfo info;
  info.size = static_cast<int64_t>(size);
  info.chunks = (info.size + chunk - 1) / chunk;
  std::string part;
  // Chunk i of the blob into `part`.
  const auto read_chunk = [&](int64_t i) {
    part.resize(
        static_cast<size_t>(std::min<int64_t>(chunk, info.size - i * chunk)));
    return read(static_cast<uint64_t>(i * chunk), part.size(), part.data());
  };
  {
    Sha256 sha;
    for (int64_t i = 0; i < info.chunks; ++i) {
      if (absl::Status s = read_chunk(i); !s.ok()) return s;
      sha.Update(part);
    }
    info.sha256 = sha.Hex();
  }
  if (existing.ok() && existing->has_value()) {
    if ((*existing)->sha256 == info.sha256 && (*existing)->size == info.size) {
      return info;  // already published
    }
    return absl::AlreadyExistsError(absl::StrCat(
        "blob \"", name, "\" is already stored with other contents (sha256 ",
        (*existing)->sha256, "); names are immutable"));
  }
  absl::StatusOr<kvStore*> kv = Bucket();
  if (!kv.ok()) return kv.status();
  const std::string prefix = BlobKeyPrefix(name_in);
  Sha256 stored;  // what was read the second time, which is what is stored
  for (int64_t i = 0; i < info.chunks; ++i) {
    if (absl::Status s = read_chunk(i); !s.ok()) return s;
    stored.Update(part);
    const std::string key = absl::StrCat(prefix, ".chunk.", i);
    uint64_t revision = 0;
    natsStatus s = kvStore_Put(&revision, *kv, key.c_str(), part.data(),
                               static_cast<int>(part.size()));
    if (s != NATS_OK) {
      return Unavailable(s, absl::StrCat("storing chunk ", i, " of ",
                                         info.chunks, " of \"", name, "\""));
    }
  }
  if (stored.Hex() != info.sha256) {
    return absl::AbortedError(
        absl::StrCat("blob \"", name,
                     "\" changed while it was stored; nothing readable "
                     "was stored: retry"));
  }
  const std::string manifest = ManifestText(info);
  uint64_t revision = 0;
  natsStatus s =
      kvStore_Put(&revision, *kv, (prefix + ".manifest").c_str(),
                  manifest.data(), static_cast<int>(manifest.size()));
  if (s != NATS_OK) {
    return Unavailable(s, absl::StrCat("storing the manifest of \"", name,
                                       "\" (its chunks are stored; retry)"));
  }
  return info;
}

absl::StatusOr<BlobInfo> JetStreamBlobs::GetTo(std::string_view name_in,
                                               const BlobWriter& write) {
  const absl::string_view name(name_in.data(), name_in.size());
  absl::StatusOr<std::optional<BlobInfo>> info = Stat(name_in);
  if (!info.ok()) return info.status();
  if (!info->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("blob \"", name, "\" is not stored in bucket ",
                     options_.bucket, " (never published, or deleted)"));
  }
  const BlobInfo& manifest = **info;
  absl::StatusOr<kvStore*> kv = Bucket();
  if (!kv.ok()) return kv.status();
  const std::string prefix = BlobKeyPrefix(name_in);
  Sha256 sha;
  int64_t size = 0;
  for (int64_t i = 0; i < manifest.chunks; ++i) {
    absl::StatusOr<std::optional<std::string>> part =
        GetValue(*kv, absl::StrCat(prefix, ".chunk.", i));
    if (!part.ok()) return part.status();
    if (!part->has_value()) {
      return absl::DataLossError(
          absl::StrCat("blob \"", name, "\": chunk ", i, " of ",
                       manifest.chunks, " is missing (a partial chunk set)"));
    }
    size += static_cast<int64_t>((*part)->size());
    if (size > manifest.size) break;
    sha.Update(**part);
    if (absl::Status s = write(**part); !s.ok()) return s;
  }
  if (size != manifest.size) {
    return absl::DataLossError(
        absl::StrCat("blob \"", name, "\": its chunks hold ", size,
                     " bytes, the manifest says ", manifest.size));
  }
  const std::string sha256 = sha.Hex();
  if (sha256 != manifest.sha256) {
    return absl::DataLossError(absl::StrCat(
        "blob \"", name, "\": SHA-256 ", sha256, " does not match the ",
        "manifest's ", manifest.sha256, " (a damaged or mixed chunk set)"));
  }
  return manifest;
}

absl::Status JetStreamBlobs::Delete(std::string_view name_in) {
  const absl::string_view name(name_in.data(), name_in.size());
  absl::StatusOr<std::optional<BlobInfo>> info = Stat(name_in);
  if (!info.ok() && !absl::IsDataLoss(info.status())) return info.status();
  absl::StatusOr<kvStore*> kv = Bucket();
  if (!kv.ok()) return kv.status();
  const std::string prefix = BlobKeyPrefix(name_in);
  natsStatus s = kvStore_Purge(*kv, (prefix + ".manifest").c_str(), nullptr);
  if (s != NATS_OK && s != NATS_NOT_FOUND) {
    return Unavailable(s, absl::StrCat("deleting \"", name, "\""));
  }
  const int64_t chunks =
      info.ok() && info->has_value() ? (*info)->chunks : int64_t{0};
  for (int64_t i = 0; i < chunks; ++i) {
    const std::string key = absl::StrCat(prefix, ".chunk.", i);
    s = kvStore_Purge(*kv, key.c_str(), nullptr);
    if (s != NATS_OK && s != NATS_NOT_FOUND) {
      return Unavailable(s, absl::StrCat("deleting ", key));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> JetStreamBlobs::List() {
  absl::StatusOr<kvStore*> kv = Bucket();
  if (!kv.ok()) return kv.status();
  std::vector<std::string> names;
  {
    // An empty bucket: nothing to watch (its watch may wait for its whole
    // timeout, seen with libnats 3.4 on a loaded machine).
    jsStreamInfo* raw_info = nullptr;
    jsErrCode js_error = static_cast<jsErrCode>(0);
    const std::string stream = "KV_" + options_.bucket;
    natsStatus s = js_GetStreamInfo(&raw_info, js_.get(), stream.c_str(),
                                    nullptr, &js_error);
    std::unique_ptr<jsStreamInfo, StreamInfoDeleter> info(raw_info);
    if (s != NATS_OK) {
      return Unavailable(s,
                         absl::StrCat("reading the bucket ", options_.bucket));
    }
    if (info->State.Msgs == 0) return names;
  }
  // Manifests only ("<prefix>.manifest": two tokens, where chunk keys
  // have three): a blob's chunks are never read here, headers only.
  kvWatchOptions watch;
  kvWatchOptions_Init(&watch);
  watch.IgnoreDeletes = true;
  watch.MetaOnly = true;
  kvWatcher* raw_watcher = nullptr;
  natsStatus s = kvStore_Watch(&raw_watcher, *kv, "*.manifest", &watch);
  if (s != NATS_OK) {
    return Unavailable(s, absl::StrCat("listing the bucket ", options_.bucket));
  }
  struct WatcherDeleter {
    void operator()(kvWatcher* w) const { kvWatcher_Destroy(w); }
  };
  std::unique_ptr<kvWatcher, WatcherDeleter> watcher(raw_watcher);
  constexpr std::string_view kManifest = ".manifest";
  while (true) {
    kvEntry* raw_entry = nullptr;
    s = kvWatcher_Next(&raw_entry, watcher.get(),
                       Millis(options_.request_timeout));
    if (s != NATS_OK) {
      return Unavailable(s,
                         absl::StrCat("listing the bucket ", options_.bucket));
    }
    if (raw_entry == nullptr) break;  // every current manifest delivered
    std::unique_ptr<kvEntry, EntryDeleter> entry(raw_entry);
    const std::string_view key(kvEntry_Key(entry.get()));
    if (!key.ends_with(kManifest)) continue;
    std::optional<std::string> name =
        BlobNameOfPrefix(key.substr(0, key.size() - kManifest.size()));
    if (name.has_value()) names.push_back(*std::move(name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace

std::optional<std::string> BlobNameOfPrefix(std::string_view prefix) {
  std::string name;
  for (size_t i = 0; i < prefix.size(); ++i) {
    const char c = prefix[i];
    if (c != '=') {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
          c != '-') {
        return std::nullopt;
      }
      name.push_back(c);
      continue;
    }
    int value = 0;
    if (i + 2 >= prefix.size()) return std::nullopt;
    for (size_t k = i + 1; k <= i + 2; ++k) {
      const char h = prefix[k];
      int digit;
      if (h >= '0' && h <= '9') {
        digit = h - '0';
      } else if (h >= 'A' && h <= 'F') {
        digit = h - 'A' + 10;
      } else {
        return std::nullopt;
      }
      value = value * 16 + digit;
    }
    name.push_back(static_cast<char>(value));
    i += 2;
  }
  if (name.empty()) return std::nullopt;
  return name;
}

std::string BlobKeyPrefix(std::string_view name) {
  std::string key;
  for (char c : name) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
        c == '-') {
      key.push_back(c);
    } else {
      absl::StrAppendFormat(&key, "=%02X", static_cast<unsigned char>(c));
    }
  }
  return key;
}

absl::StatusOr<std::unique_ptr<BlobStore>> ConnectJetStreamBlobs(
    const BlobStoreOptions& options) {
  if (options.servers.empty()) {
    return absl::InvalidArgumentError("no NATS server given");
  }
  if (options.bucket.empty() || options.chunk_bytes < 1) {
    return absl::InvalidArgumentError("empty bucket name or chunk size < 1");
  }
  auto blobs = std::make_unique<JetStreamBlobs>(options);
  if (absl::Status s = blobs->Connect(); !s.ok()) return s;
  return std::unique_ptr<BlobStore>(std::move(blobs));
}

}  // namespace aisle::cluster
