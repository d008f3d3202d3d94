#include "core/model.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/crc32c.h"

namespace aisle::core {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the model format is little-endian and written by memcpy");

// Layout: header = magic(8) | format version u32 | crc32c(body) u32 |
// body length u64; body = metadata | item ids | user ids | item matrix |
// user matrix | segments (format 2 only). Strings are u32 length + bytes,
// maps u32 count + pairs, matrices i32 rows | i32 cols | rows*cols float32
// (row-major). Segments = centroid matrix | budget_below f64 |
// premium_above f64 | u32 count | per segment: label | users i64 |
// price band | u32 count + (category, share f64) | item ids.
constexpr char kMagic[8] = {'A', 'I', 'S', 'L', 'E', 'M', 'D', 'L'};
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kFormatWithoutSegments = 1;
constexpr size_t kHeaderSize = 8 + 4 + 4 + 8;

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  template <typename T>
  void Pod(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out_->append(buf, sizeof(T));
  }
  void String(std::string_view s) {
    Pod<uint32_t>(static_cast<uint32_t>(s.size()));
    out_->append(s.data(), s.size());
  }
  void Matrix(const RowMatrix& m) {
    Pod<int32_t>(static_cast<int32_t>(m.rows()));
    Pod<int32_t>(static_cast<int32_t>(m.cols()));
    out_->append(reinterpret_cast<const char*>(m.data()),
                 static_cast<size_t>(m.size()) * sizeof(float));
  }

 private:
  std::string* out_;
};

// Bounds-checked reader: every length is checked against the bytes left
// before anything is allocated, so hostile input cannot over-allocate.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  size_t remaining() const { return data_.size() - pos_; }
  template <typename T>
  bool Pod(T* v) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool String(std::string* s) {
    uint32_t n = 0;
    if (!Pod(&n) || remaining() < n) return false;
    s->assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool Strings(std::vector<std::string>* v) {
    uint32_t n = 0;
    // Each string needs at least its 4-byte length.
    if (!Pod(&n) || remaining() / 4 < n) return false;
    v->resize(n);
    for (auto& s : *v) {
      if (!String(&s)) return false;
    }
    return true;
  }
  bool Matrix(RowMatrix* m) {
    int32_t rows = 0, cols = 0;
    if (!Pod(&rows) || !Pod(&cols) || rows < 0 || cols < 0) return false;
    const uint64_t bytes = static_cast<uint64_t>(rows) *
                           static_cast<uint64_t>(cols) * sizeof(float);
    if (bytes > remaining()) return false;
    m->resize(rows, cols);
    if (bytes > 0) std::memcpy(m->data(), data_.data() + pos_, bytes);
    pos_ += bytes;
    return true;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

void WriteMetadata(const ModelMetadata& m, Writer* w) {
  w->String(m.version);
  w->Pod<int64_t>(m.trained_at_ms);
  w->Pod<int32_t>(m.factors);
  w->Pod<int64_t>(m.users);
  w->Pod<int64_t>(m.items);
  w->Pod<int64_t>(m.interactions);
  w->Pod<uint32_t>(static_cast<uint32_t>(m.metrics.size()));
  for (const auto& [k, v] : m.metrics) {
    w->String(k);
    w->Pod<double>(v);
  }
  w->Pod<uint32_t>(static_cast<uint32_t>(m.parameters.size()));
  for (const auto& [k, v] : m.parameters) {
    w->String(k);
    w->String(v);
  }
}

bool ReadMetadata(Reader* r, ModelMetadata* m) {
  int32_t factors = 0;
  if (!r->String(&m->version) || !r->Pod(&m->trained_at_ms) ||
      !r->Pod(&factors) || !r->Pod(&m->users) || !r->Pod(&m->items) ||
      !r->Pod(&m->interactions)) {
    return false;
  }
  m->factors = factors;
  uint32_t n = 0;
  if (!r->Pod(&n)) return false;
  for (uint32_t i = 0; i < n; ++i) {
    std::string k;
    double v = 0;
    if (!r->String(&k) || !r->Pod(&v)) return false;
    m->metrics[k] = v;
  }
  if (!r->Pod(&n)) return false;
  for (uint32_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r->String(&k) || !r->String(&v)) return false;
    m->parameters[k] = v;
  }
  return true;
}

void WriteSegments(const Segments& s, Writer* w) {
  w->Matrix(s.centroids);
  w->Pod<double>(s.price_bands.budget_below);
  w->Pod<double>(s.price_bands.premium_above);
  w->Pod<uint32_t>(static_cast<uint32_t>(s.info.size()));
  for (const SegmentInfo& info : s.info) {
    w->String(info.label);
    w->Pod<int64_t>(info.users);
    w->String(info.price_band);
    w->Pod<uint32_t>(static_cast<uint32_t>(info.top_categories.size()));
    for (const auto& [category, share] : info.top_categories) {
      w->String(category);
      w->Pod<double>(share);
    }
    w->Pod<uint32_t>(static_cast<uint32_t>(info.top_items.size()));
    for (const std::string& item : info.top_items) w->String(item);
  }
}

bool ReadSegments(Reader* r, Segments* s) {
  uint32_t n = 0;
  if (!r->Matrix(&s->centroids) || !r->Pod(&s->price_bands.budget_below) ||
      !r->Pod(&s->price_bands.premium_above) || !r->Pod(&n) ||
      static_cast<int64_t>(n) != s->centroids.rows()) {
    return false;
  }
  // Each segment takes at least 24 bytes (four lengths and a count); a
  // count the rest of the blob cannot hold is damage (a centroid matrix
  // with no columns costs no bytes for any number of rows).
  constexpr size_t kMinSegmentBytes = 24;
  if (r->remaining() / kMinSegmentBytes < n) return false;
  s->info.resize(n);
  for (uint32_t c = 0; c < n; ++c) {
    SegmentInfo& info = s->info[c];
    info.id = static_cast<int32_t>(c);
    uint32_t cats = 0;
    if (!r->String(&info.label) || !r->Pod(&info.users) ||
        !r->String(&info.price_band) || !r->Pod(&cats) ||
        r->remaining() / 12 < cats) {
      return false;
    }
    info.top_categories.resize(cats);
    for (auto& [category, share] : info.top_categories) {
      if (!r->String(&category) || !r->Pod(&share)) return false;
    }
    if (!r->Strings(&info.top_items)) return false;
  }
  return true;
}

absl::Status Damaged(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("model blob ", what));
}

// Validates the header; on success returns the body and sets *format.
absl::StatusOr<std::string_view> Body(std::string_view blob, bool check_crc,
                                      uint32_t* format_out = nullptr) {
  if (blob.size() < kHeaderSize) return Damaged("truncated: no header");
  if (std::memcmp(blob.data(), kMagic, sizeof(kMagic)) != 0) {
    return Damaged("has a bad magic (not an Aisle model)");
  }
  Reader r(blob.substr(sizeof(kMagic)));
  uint32_t format = 0, crc = 0;
  uint64_t length = 0;
  r.Pod(&format);
  r.Pod(&crc);
  r.Pod(&length);
  if (format != kFormatVersion && format != kFormatWithoutSegments) {
    return Damaged(absl::StrCat("has unsupported format version ", format));
  }
  if (length != blob.size() - kHeaderSize) {
    return Damaged(absl::StrCat("truncated: body is ",
                                blob.size() - kHeaderSize,
                                " bytes, header says ", length));
  }
  const std::string_view body = blob.substr(kHeaderSize);
  if (check_crc && Crc32c(body) != crc) return Damaged("checksum mismatch");
  if (format_out != nullptr) *format_out = format;
  return body;
}

bool AllFinite(const RowMatrix& m) { return m.size() == 0 || m.allFinite(); }

absl::StatusOr<absl::flat_hash_map<std::string, int32_t>> IndexIds(
    const std::vector<std::string>& ids, absl::string_view what) {
  absl::flat_hash_map<std::string, int32_t> index;
  index.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("empty ", what, " id"));
    }
    if (!index.emplace(ids[i], static_cast<int32_t>(i)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate ", what, " id '", ids[i], "'"));
    }
  }
  return index;
}

}  // namespace

std::string AnnCachePath(const ModelOptions& options,
                         std::string_view version) {
  if (options.ann_cache_dir.empty()) return "";
  return absl::StrCat(options.ann_cache_dir, "/", std::string(version),
                      ".hnsw");
}

absl::StatusOr<std::shared_ptr<const FactorModel>> FactorModel::Create(
    ModelMetadata metadata, std::vector<std::string> item_ids,
    RowMatrix item_factors, std::vector<std::string> user_ids,
    RowMatrix user_factors, const ModelOptions& options, Segments segments) {
  if (item_ids.empty()) {
    return absl::InvalidArgumentError("model has no items");
  }
  if (item_ids.size() >
          static_cast<size_t>(std::numeric_limits<int32_t>::max()) ||
      user_ids.size() >
          static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError("model too large");
  }
  if (metadata.factors <= 0 || item_factors.cols() != metadata.factors) {
    return absl::InvalidArgumentError(
        absl::StrCat("item factors have ", item_factors.cols(),
                     " columns, metadata says ", metadata.factors));
  }
  if (item_factors.rows() != static_cast<int64_t>(item_ids.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("item factors have ", item_factors.rows(), " rows for ",
                     item_ids.size(), " item ids"));
  }
  if (user_factors.rows() != static_cast<int64_t>(user_ids.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("user factors have ", user_factors.rows(), " rows for ",
                     user_ids.size(), " user ids"));
  }
  if (user_factors.rows() > 0 && user_factors.cols() != metadata.factors) {
    return absl::InvalidArgumentError(
        absl::StrCat("user factors have ", user_factors.cols(),
                     " columns, metadata says ", metadata.factors));
  }
  if (user_factors.rows() == 0) user_factors.resize(0, metadata.factors);
  if (!AllFinite(item_factors) || !AllFinite(user_factors) ||
      !AllFinite(segments.centroids)) {
    return absl::InvalidArgumentError("factors contain NaN or infinity");
  }
  if (!segments.empty() && (segments.centroids.cols() != metadata.factors ||
                            segments.centroids.rows() !=
                                static_cast<int64_t>(segments.info.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("segment centroids are ", segments.centroids.rows(), "x",
                     segments.centroids.cols(), " for ", segments.info.size(),
                     " segments of ", metadata.factors, " factors"));
  }
  auto item_index = IndexIds(item_ids, "item");
  if (!item_index.ok()) return item_index.status();
  auto user_index = IndexIds(user_ids, "user");
  if (!user_index.ok()) return user_index.status();

  std::shared_ptr<FactorModel> model(new FactorModel());
  metadata.items = static_cast<int64_t>(item_ids.size());
  // A model stored without user vectors keeps the count it was trained on.
  if (!user_ids.empty()) metadata.users = static_cast<int64_t>(user_ids.size());
  model->als_ = options.als;
  model->als_.factors = metadata.factors;
  // Fold-in must use the confidence and regularization of training.
  if (auto it = metadata.parameters.find("alpha");
      it != metadata.parameters.end()) {
    float v = 0;
    if (absl::SimpleAtof(it->second, &v) && v > 0) model->als_.alpha = v;
  }
  if (auto it = metadata.parameters.find("regularization");
      it != metadata.parameters.end()) {
    float v = 0;
    if (absl::SimpleAtof(it->second, &v) && v >= 0) {
      model->als_.regularization = v;
    }
  }
  model->metadata_ = std::move(metadata);
  model->item_ids_ = std::move(item_ids);
  model->user_ids_ = std::move(user_ids);
  model->item_index_ = *std::move(item_index);
  model->user_index_ = *std::move(user_index);
  model->item_factors_ = std::move(item_factors);
  model->user_factors_ = std::move(user_factors);
  model->segments_ = std::move(segments);
  model->gramian_ = Gramian(model->item_factors_);
  model->fold_in_.emplace(model->gramian_, model->als_, model->item_factors_);
  if (!options.defer_ann && model->num_items() >= options.ann_min_items) {
    auto ann = AnnIndex::Build(model->item_factors_, options.ann);
    if (!ann.ok()) return ann.status();
    model->ann_ = *std::move(ann);
  }
  return std::shared_ptr<const FactorModel>(std::move(model));
}

std::string FactorModel::Serialize() const { return SerializeImpl(true); }

std::string FactorModel::SerializeWithoutUsers() const {
  return SerializeImpl(false);
}

std::string FactorModel::SerializeImpl(bool with_users) const {
  static const std::vector<std::string> kNoIds;
  const std::vector<std::string>& user_ids = with_users ? user_ids_ : kNoIds;
  const RowMatrix no_users(0, item_factors_.cols());
  const RowMatrix& user_factors = with_users ? user_factors_ : no_users;
  std::string body;
  body.reserve(
      static_cast<size_t>(item_factors_.size() + user_factors_.size()) *
          sizeof(float) +
      (item_ids_.size() + user_ids_.size()) * 16 + 1024);
  Writer w(&body);
  WriteMetadata(metadata_, &w);
  w.Pod<uint32_t>(static_cast<uint32_t>(item_ids_.size()));
  for (const auto& id : item_ids_) w.String(id);
  w.Pod<uint32_t>(static_cast<uint32_t>(user_ids.size()));
  for (const auto& id : user_ids) w.String(id);
  w.Matrix(item_factors_);
  w.Matrix(user_factors);
  WriteSegments(segments_, &w);

  std::string out;
  out.reserve(kHeaderSize + body.size());
  out.append(kMagic, sizeof(kMagic));
  Writer h(&out);
  h.Pod<uint32_t>(kFormatVersion);
  h.Pod<uint32_t>(Crc32c(body));
  h.Pod<uint64_t>(body.size());
  out.append(body);
  return out;
}

absl::StatusOr<std::shared_ptr<const FactorModel>> FactorModel::Deserialize(
    std::string_view blob, const ModelOptions& options) {
  uint32_t format = 0;
  auto body = Body(blob, /*check_crc=*/true, &format);
  if (!body.ok()) return body.status();
  Reader r(*body);
  ModelMetadata metadata;
  std::vector<std::string> item_ids, user_ids;
  RowMatrix items, users;
  Segments segments;
  if (!ReadMetadata(&r, &metadata) || !r.Strings(&item_ids) ||
      !r.Strings(&user_ids) || !r.Matrix(&items) || !r.Matrix(&users) ||
      (format != kFormatWithoutSegments && !ReadSegments(&r, &segments))) {
    return Damaged("truncated or malformed body");
  }
  if (r.remaining() != 0) return Damaged("has trailing bytes");
  auto model = Create(std::move(metadata), std::move(item_ids),
                      std::move(items), std::move(user_ids), std::move(users),
                      options, std::move(segments));
  // A blob that passed its checksum but is inconsistent was written wrong
  // or forged; either way the bytes are not a usable model.
  if (absl::IsInvalidArgument(model.status())) {
    return Damaged(absl::StrCat("is inconsistent: ", model.status().message()));
  }
  return model;
}

absl::StatusOr<int64_t> FactorModel::PeekUserVectors(std::string_view blob) {
  auto body = Body(blob, /*check_crc=*/false);
  if (!body.ok()) return body.status();
  Reader r(*body);
  ModelMetadata metadata;
  std::vector<std::string> item_ids;
  uint32_t users = 0;
  if (!ReadMetadata(&r, &metadata) || !r.Strings(&item_ids) || !r.Pod(&users)) {
    return Damaged("truncated ids");
  }
  return static_cast<int64_t>(users);
}

absl::StatusOr<ModelMetadata> FactorModel::PeekMetadata(std::string_view blob) {
  auto body = Body(blob, /*check_crc=*/false);
  if (!body.ok()) return body.status();
  Reader r(*body);
  ModelMetadata metadata;
  if (!ReadMetadata(&r, &metadata)) return Damaged("truncated metadata");
  return metadata;
}

std::optional<int32_t> FactorModel::ItemIndex(std::string_view item_id) const {
  auto it = item_index_.find(absl::string_view(item_id.data(), item_id.size()));
  if (it == item_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<int32_t> FactorModel::UserIndex(std::string_view user_id) const {
  auto it = user_index_.find(absl::string_view(user_id.data(), user_id.size()));
  if (it == user_index_.end()) return std::nullopt;
  return it->second;
}

Eigen::VectorXf FactorModel::FoldIn(
    std::span<const std::pair<std::string, float>> interactions) const {
  std::vector<int32_t> items;
  std::vector<float> weights;
  items.reserve(interactions.size());
  weights.reserve(interactions.size());
  for (const auto& [id, w] : interactions) {
    if (auto i = ItemIndex(id)) {
      items.push_back(*i);
      weights.push_back(w);
    }
  }
  return FoldIn(items, weights);
}

Eigen::VectorXf FactorModel::FoldIn(std::span<const int32_t> items,
                                    std::span<const float> weights) const {
  return core::FoldIn(item_factors_, *fold_in_, items, weights);
}

size_t FactorModel::MemoryBytes() const {
  size_t bytes = sizeof(*this);
  // The fold-in system holds two more k x k matrices and the items' rows
  // times the inverse.
  bytes += static_cast<size_t>(item_factors_.size() + user_factors_.size() +
                               3 * gramian_.size() +
                               fold_in_->solved_rows().size()) *
           sizeof(float);
  for (const auto& id : item_ids_) bytes += sizeof(std::string) + id.capacity();
  for (const auto& id : user_ids_) bytes += sizeof(std::string) + id.capacity();
  // The maps hold a second copy of each id plus a slot and a control byte.
  const auto map_bytes = [](const auto& map) {
    size_t b = map.capacity() * (sizeof(std::pair<std::string, int32_t>) + 1);
    for (const auto& [k, v] : map) {
      if (k.capacity() > 15) b += k.capacity();
    }
    return b;
  };
  bytes += map_bytes(item_index_) + map_bytes(user_index_);
  if (ann_) bytes += ann_->MemoryBytes();
  return bytes;
}

}  // namespace aisle::core
