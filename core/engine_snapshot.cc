// Engine::SaveSnapshot and Engine::LoadSnapshot: the state derived from
// events as bytes, so that a restart replays only the events after it.
//
// Format (version 3; numbers little-endian as in memory, which the magic
// checks: a big-endian reader sees a foreign magic):
//   header   "AISLESNP" | u32 format version | u32 options fingerprint
//   body     i64 now_ms | i64 events
//            u32 n_items | n_items x (u32 length, id bytes)
//            popularity, trending, impressions, bestsellers: i64 base | u8
//            has_base | u32 n | n x f64 n_all, n_cart: n_items x f32 each
//            co_all, co_cart: n_items x (u32 k | k x (i32 item, f32 w))
//            u32 n_users | per user: u32 length, id bytes | i64 first_seen
//              | i64 last_seen | u32 c | c x i32 counts (c <= the
//              number of event types this build knows, so that adding an
//              event type does not change the format)
//              | u32 h | h x (i64 ts, i32 item, i32 type)
//              | u32 k | k x (i32 item, f32 weight, u32 last_sec,
//                             u8 flags, u8 best)
//              | u32 q | q x (i64 ts, u32 length, query bytes)  (searches)
//   trailer  u64 bytes before the trailer | u32 CRC32C of those bytes
// The pieces are cut every ~4 MiB regardless of records: the reader joins
// them. Only live users are written (erased users' slots are dropped), so
// a snapshot written after an erasure holds nothing of the user.
//
// Size: about 16 bytes per history entry and per (user, item) pair, 8 per
// co-occurrence neighbour; at 10M demo events about 0.3 GB.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/crc32c.h"
#include "core/engine_state.h"
#include "core/string_view.h"

namespace aisle::core {
namespace {

constexpr char kMagic[8] = {'A', 'I', 'S', 'L', 'E', 'S', 'N', 'P'};
constexpr uint32_t kFormatVersion = 3;
constexpr size_t kPieceBytes = 4 << 20;
constexpr size_t kTrailerBytes = 8 + 4;

// Appends to pieces of about kPieceBytes, with a running checksum.
class PieceWriter {
 public:
  PieceWriter() { current_.reserve(kPieceBytes); }

  void Bytes(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const size_t room = kPieceBytes - current_.size();
      const size_t take = std::min(room, n);
      current_.append(p, take);
      p += take;
      n -= take;
      if (current_.size() == kPieceBytes) Cut();
    }
  }
  template <typename T>
  void Put(T v) {
    static_assert(std::is_arithmetic_v<T>);
    // Fast path: most values fit in the current piece.
    if (current_.size() + sizeof(T) <= kPieceBytes) {
      current_.append(reinterpret_cast<const char*>(&v), sizeof(T));
    } else {
      Bytes(&v, sizeof(T));
    }
  }
  void String(std::string_view s) {
    Put(static_cast<uint32_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  uint64_t size() const { return written_ + current_.size(); }

  // Appends the trailer and returns the pieces.
  std::vector<std::string> Finish() {
    Put(size());
    uint32_t crc = crc_;
    crc = Crc32cExtend(crc, current_);
    // The checksum covers everything before it, the length included.
    const uint32_t final_crc = crc;
    current_.append(reinterpret_cast<const char*>(&final_crc), 4);
    pieces_.push_back(std::move(current_));
    return std::move(pieces_);
  }

 private:
  void Cut() {
    crc_ = Crc32cExtend(crc_, current_);
    written_ += current_.size();
    pieces_.push_back(std::move(current_));
    current_ = std::string();
    current_.reserve(kPieceBytes);
  }

  std::vector<std::string> pieces_;
  std::string current_;
  uint64_t written_ = 0;
  uint32_t crc_ = 0;
};

// Reads across pieces; every read is bounds-checked against `limit` (the
// bytes before the trailer), so a bad length is an error, not a crash.
class PieceReader {
 public:
  PieceReader(std::span<const std::string> pieces, uint64_t limit)
      : pieces_(pieces), left_(limit) {}

  bool Bytes(void* out, size_t n) {
    if (n > left_) return false;
    left_ -= n;
    char* dst = static_cast<char*>(out);
    while (n > 0) {
      while (pos_ == pieces_[piece_].size()) {
        ++piece_;
        pos_ = 0;
      }
      const size_t take = std::min(n, pieces_[piece_].size() - pos_);
      std::memcpy(dst, pieces_[piece_].data() + pos_, take);
      pos_ += take;
      dst += take;
      n -= take;
    }
    return true;
  }
  bool Skip(uint64_t n) {
    if (n > left_) return false;
    left_ -= n;
    while (n > 0) {
      const uint64_t take =
          std::min<uint64_t>(n, pieces_[piece_].size() - pos_);
      pos_ += take;
      n -= take;
      if (pos_ == pieces_[piece_].size() && piece_ + 1 < pieces_.size()) {
        ++piece_;
        pos_ = 0;
      }
    }
    return true;
  }
  template <typename T>
  bool Get(T* v) {
    return Bytes(v, sizeof(T));
  }
  bool String(std::string* s) {
    uint32_t n;
    if (!Get(&n) || n > left_) return false;
    s->resize(n);
    return Bytes(s->data(), n);
  }
  // A count of records of at least `record_bytes` each: refuses counts
  // the remaining bytes cannot hold, before anything is allocated.
  bool Count(uint32_t* n, size_t record_bytes) {
    return Get(n) && static_cast<uint64_t>(*n) * record_bytes <= left_;
  }
  uint64_t left() const { return left_; }

 private:
  std::span<const std::string> pieces_;
  size_t piece_ = 0;
  size_t pos_ = 0;
  uint64_t left_;
};

// A checksum of the options that shape the derived state: a snapshot
// written under other ones would not equal a replay under these.
uint32_t OptionsFingerprint(const EngineOptions& o) {
  std::string bytes;
  const auto add = [&bytes](const auto& v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
  };
  const EventWeights& w = o.weights;
  for (float f : {w.view, w.click, w.add_to_cart, w.remove_from_cart,
                  w.purchase, w.rating_scale, w.impression, w.favorite}) {
    add(f);
  }
  add(o.popularity_half_life_days);
  add(o.trending_half_life_hours);
  add(o.max_history_per_user);
  add(o.co_occurrence_window);
  add(o.co_occurrence_max_neighbors);
  const SessionOptions& session = o.session;
  add(session.position_decay);
  add(session.transition_span);
  add(session.transition_gap_half_life_seconds);
  add(session.transition_max_neighbors);
  add(o.content.max_searches);
  return Crc32c(bytes);
}

absl::Status Damaged(std::string_view what) {
  return absl::DataLossError(
      absl::StrCat("engine snapshot damaged: ", ToAbsl(what),
                   "; it is ignored and the events are replayed"));
}

void WriteCounters(const DecayedCounters& c, PieceWriter& w) {
  w.Put(c.base());
  w.Put(static_cast<uint8_t>(c.has_base()));
  w.Put(static_cast<uint32_t>(c.values().size()));
  w.Bytes(c.values().data(), c.values().size() * sizeof(double));
}

struct Counters {
  int64_t base = 0;
  bool has_base = false;
  std::vector<double> values;
};

bool ReadCounters(PieceReader& r, uint32_t n_items, Counters* c) {
  uint8_t has_base;
  uint32_t n;
  if (!r.Get(&c->base) || !r.Get(&has_base) || !r.Count(&n, sizeof(double)) ||
      n > n_items) {
    return false;
  }
  c->has_base = has_base != 0;
  c->values.resize(n);
  return r.Bytes(c->values.data(), n * sizeof(double));
}

using CoMap = absl::flat_hash_map<int32_t, float>;

// `lists` neighbour lists of items below `n_items`.
bool ReadNeighborLists(PieceReader& r, uint32_t lists, uint32_t n_items,
                       std::vector<CoMap>* co) {
  co->resize(lists);
  for (CoMap& m : *co) {
    uint32_t k;
    if (!r.Count(&k, 8)) return false;
    m.reserve(k);
    for (uint32_t j = 0; j < k; ++j) {
      int32_t other;
      float weight;
      if (!r.Get(&other) || !r.Get(&weight) || other < 0 ||
          static_cast<uint32_t>(other) >= n_items) {
        return false;
      }
      m.emplace(other, weight);
    }
  }
  return true;
}

// Skips `lists` neighbour lists (their bytes only; ReadNeighborLists
// checks their contents).
bool SkipNeighborLists(PieceReader& r, uint32_t lists) {
  for (uint32_t i = 0; i < lists; ++i) {
    uint32_t k;
    if (!r.Count(&k, 8) || !r.Skip(uint64_t{k} * 8)) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> Engine::SaveSnapshot() const {
  static_assert(
      sizeof(State::HistoryEntry) == 16 &&
          std::has_unique_object_representations_v<State::HistoryEntry>,
      "history entries are written as raw bytes: no padding");
  const State& s = *state_;
  PieceWriter w;
  w.Bytes(kMagic, sizeof(kMagic));
  w.Put(kFormatVersion);
  w.Put(OptionsFingerprint(s.options));

  absl::ReaderMutexLock lock(&s.mu);
  w.Put(s.now_ms);
  w.Put(s.events);
  w.Put(static_cast<uint32_t>(s.item_ids.size()));
  for (const std::string& id : s.item_ids) w.String(id);
  WriteCounters(s.popularity, w);
  WriteCounters(s.trending, w);
  WriteCounters(s.impressions, w);
  WriteCounters(s.bestsellers, w);
  w.Bytes(s.n_all.data(), s.n_all.size() * sizeof(float));
  w.Bytes(s.n_cart.data(), s.n_cart.size() * sizeof(float));
  for (const auto* co : {&s.co_all, &s.co_cart}) {
    for (const CoMap& m : *co) {
      w.Put(static_cast<uint32_t>(m.size()));
      for (const auto& [other, weight] : m) {
        w.Put(other);
        w.Put(weight);
      }
    }
  }
  // Transitions (session signal): outgoing totals, then the lists.
  const std::vector<CoMap>& next = s.transitions.Lists();
  w.Put(static_cast<uint32_t>(next.size()));
  w.Bytes(s.transitions.Outs().data(), next.size() * sizeof(float));
  for (const CoMap& m : next) {
    w.Put(static_cast<uint32_t>(m.size()));
    for (const auto& [other, weight] : m) {
      w.Put(other);
      w.Put(weight);
    }
  }
  w.Put(static_cast<uint32_t>(s.user_index.size()));
  for (const State::UserRec& user : s.users) {
    if (user.id.empty()) continue;  // a free slot
    w.String(user.id);
    w.Put(user.first_seen);
    w.Put(user.last_seen);
    w.Put(static_cast<uint32_t>(user.counts.size()));
    w.Bytes(user.counts.data(), sizeof(user.counts));
    w.Put(static_cast<uint32_t>(user.history.size()));
    w.Bytes(user.history.data(),
            user.history.size() * sizeof(State::HistoryEntry));
    w.Put(static_cast<uint32_t>(user.items.size()));
    for (const State::UserItem& ui : user.items) {
      w.Put(ui.item);
      w.Put(ui.weight);
      w.Put(ui.last_sec);
      w.Put(ui.flags);
      w.Put(ui.best);
    }
    w.Put(static_cast<uint32_t>(user.searches.size()));
    for (const State::SearchEntry& q : user.searches) {
      w.Put(q.ts);
      w.String(q.query);
    }
  }
  return w.Finish();
}

absl::Status Engine::LoadSnapshot(std::span<const std::string> pieces) {
  State& s = *state_;
  // Trailer first: the length and the checksum over everything before it.
  uint64_t total = 0;
  for (const std::string& p : pieces) total += p.size();
  if (total < sizeof(kMagic) + 8 + kTrailerBytes) return Damaged("truncated");
  const uint64_t body_end = total - kTrailerBytes;
  uint64_t stored_length;
  uint32_t stored_crc;
  {
    uint32_t crc = 0;
    uint64_t seen = 0;
    for (const std::string& p : pieces) {
      const uint64_t take = std::min<uint64_t>(p.size(), total - 4 - seen);
      crc = Crc32cExtend(crc, std::string_view(p).substr(0, take));
      seen += take;
      if (seen == total - 4) break;
    }
    PieceReader tail(pieces, total);
    if (!tail.Skip(body_end) || !tail.Get(&stored_length) ||
        !tail.Get(&stored_crc)) {
      return Damaged("truncated");
    }
    if (stored_length != body_end) return Damaged("length mismatch");
    if (stored_crc != crc) return Damaged("checksum mismatch");
  }

  PieceReader r(pieces, body_end);
  char magic[sizeof(kMagic)];
  uint32_t version, fingerprint;
  if (!r.Bytes(magic, sizeof(magic)) || !r.Get(&version) ||
      !r.Get(&fingerprint)) {
    return Damaged("truncated header");
  }
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return absl::FailedPreconditionError(
        "not an engine snapshot (foreign magic)");
  }
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("engine snapshot format version ", version,
                     "; this build reads version ", kFormatVersion));
  }
  if (fingerprint != OptionsFingerprint(s.options)) {
    return absl::FailedPreconditionError(
        "engine snapshot written with other engine options (event weights, "
        "half-lives, history length or co-occurrence settings)");
  }

  int64_t now_ms, events;
  uint32_t n_items;
  if (!r.Get(&now_ms) || !r.Get(&events) || !r.Count(&n_items, 4)) {
    return Damaged("truncated totals");
  }
  std::deque<std::string> item_ids;
  for (uint32_t i = 0; i < n_items; ++i) {
    item_ids.emplace_back();
    if (!r.String(&item_ids.back()) || item_ids.back().empty()) {
      return Damaged("item ids");
    }
  }
  Counters popularity, trending, impressions, bestsellers;
  if (!ReadCounters(r, n_items, &popularity) ||
      !ReadCounters(r, n_items, &trending) ||
      !ReadCounters(r, n_items, &impressions) ||
      !ReadCounters(r, n_items, &bestsellers)) {
    return Damaged("counters");
  }
  std::vector<float> n_all(n_items), n_cart(n_items);
  if (!r.Bytes(n_all.data(), n_items * sizeof(float)) ||
      !r.Bytes(n_cart.data(), n_items * sizeof(float))) {
    return Damaged("item counts");
  }
  // The neighbour lists (hash maps to build) and the user records
  // (vectors to fill) are the two large parts: a pass that only skips
  // finds where the users start, and the lists are built on a second
  // thread while this one reads the users.
  PieceReader lists_reader = r;
  uint32_t n_from;
  if (!SkipNeighborLists(r, n_items) || !SkipNeighborLists(r, n_items)) {
    return Damaged("co-occurrence");
  }
  if (!r.Count(&n_from, sizeof(float)) || n_from > n_items ||
      !r.Skip(uint64_t{n_from} * sizeof(float)) ||
      !SkipNeighborLists(r, n_from)) {
    return Damaged("transitions");
  }
  uint32_t n_users = 0;
  std::deque<State::UserRec> users;
  const auto read_users = [&]() -> absl::Status {
    if (!r.Count(&n_users, 4)) return Damaged("user count");
    users.resize(n_users);
    const auto valid_item = [n_items](int32_t i) {
      return i >= 0 && static_cast<uint32_t>(i) < n_items;
    };
    for (State::UserRec& user : users) {
      uint32_t h, k, c;
      if (!r.String(&user.id) || user.id.empty() || !r.Get(&user.first_seen) ||
          !r.Get(&user.last_seen) || !r.Get(&c) || c > user.counts.size() ||
          !r.Bytes(user.counts.data(), c * sizeof(int32_t)) ||
          !r.Count(&h, sizeof(State::HistoryEntry))) {
        return Damaged("user record");
      }
      user.history.resize(h);
      if (!r.Bytes(user.history.data(), h * sizeof(State::HistoryEntry))) {
        return Damaged("user history");
      }
      for (const State::HistoryEntry& e : user.history) {
        if (!valid_item(e.item) || static_cast<int>(e.type) <= 0 ||
            static_cast<int>(e.type) >= kNumEventTypes) {
          return Damaged("user history");
        }
      }
      if (!r.Count(&k, 14)) return Damaged("user items");
      user.items.resize(k);
      for (State::UserItem& ui : user.items) {
        if (!r.Get(&ui.item) || !r.Get(&ui.weight) || !r.Get(&ui.last_sec) ||
            !r.Get(&ui.flags) || !r.Get(&ui.best) || !valid_item(ui.item) ||
            ui.best >= kNumEventTypes) {
          return Damaged("user items");
        }
      }
      // UserRec::Find binary-searches them.
      for (size_t j = 1; j < user.items.size(); ++j) {
        if (user.items[j - 1].item >= user.items[j].item) {
          return Damaged("user items out of order");
        }
      }
      uint32_t q;
      if (!r.Count(&q, 12)) return Damaged("user searches");
      user.searches.resize(q);
      for (State::SearchEntry& e : user.searches) {
        if (!r.Get(&e.ts) || !r.String(&e.query) || e.query.empty()) {
          return Damaged("user searches");
        }
      }
      user.generation = 1;
    }
    return absl::OkStatus();
  };
  std::vector<CoMap> co_all, co_cart, next;
  std::vector<float> out(n_from);
  absl::Status lists_status;
  std::thread lists_thread([&] {
    PieceReader& lr = lists_reader;
    uint32_t from;
    if (!ReadNeighborLists(lr, n_items, n_items, &co_all) ||
        !ReadNeighborLists(lr, n_items, n_items, &co_cart)) {
      lists_status = Damaged("co-occurrence");
    } else if (!lr.Get(&from) || from != n_from ||
               !lr.Bytes(out.data(), n_from * sizeof(float)) ||
               !ReadNeighborLists(lr, n_from, n_items, &next)) {
      lists_status = Damaged("transitions");
    }
  });
  absl::Status users_status = read_users();
  lists_thread.join();
  if (!lists_status.ok()) return lists_status;
  if (!users_status.ok()) return users_status;
  if (r.left() != 0) return Damaged("trailing bytes");

  absl::MutexLock lock(&s.mu);
  if (s.events != 0 || !s.item_ids.empty() || !s.users.empty()) {
    return absl::FailedPreconditionError(
        "LoadSnapshot needs a fresh engine (no items or events yet)");
  }
  // The indexes hold views of the ids: built once the ids are in place
  // (moving a deque keeps its elements where they are).
  s.item_ids = std::move(item_ids);
  s.item_index.reserve(n_items);
  for (uint32_t i = 0; i < n_items; ++i) {
    s.item_index.emplace(s.item_ids[i], static_cast<int32_t>(i));
  }
  if (s.item_index.size() != n_items) {
    // Duplicate ids: undo, the engine stays fresh.
    s.item_ids.clear();
    s.item_index.clear();
    return Damaged("duplicate item ids");
  }
  s.users = std::move(users);
  s.user_index.reserve(n_users);
  for (uint32_t u = 0; u < n_users; ++u) {
    s.user_index.emplace(s.users[u].id, static_cast<int32_t>(u));
  }
  if (s.user_index.size() != n_users) {
    s.item_ids.clear();
    s.item_index.clear();
    s.users.clear();
    s.user_index.clear();
    return Damaged("duplicate user ids");
  }
  s.items.assign(n_items, State::ItemRec());
  s.listed.assign(n_items, 0);  // the catalog is upserted after the load
  s.n_all = std::move(n_all);
  s.n_cart = std::move(n_cart);
  s.co_all = std::move(co_all);
  s.RecountPositiveUsers();
  s.near_cold.ForgetAll(n_items);
  s.co_cart = std::move(co_cart);
  s.transitions.Restore(std::move(next), std::move(out));
  s.popularity.Restore(popularity.base, popularity.has_base,
                       std::move(popularity.values));
  s.trending.Restore(trending.base, trending.has_base,
                     std::move(trending.values));
  s.impressions.Restore(impressions.base, impressions.has_base,
                        std::move(impressions.values));
  s.bestsellers.Restore(bestsellers.base, bestsellers.has_base,
                        std::move(bestsellers.values));
  s.now_ms = now_ms;
  s.events = events;
  // Attributes are not in the snapshot (stored with the users): any given
  // before it count against the users it brought.
  s.RecountAttributes();
  return absl::OkStatus();
}

}  // namespace aisle::core
