#include "core/content.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "core/check.h"

namespace aisle::core {
namespace {

// Words too common to say anything about an item (English, short list:
// titles are short, so only the words nearly every title has).
bool IsStopWord(std::string_view w) {
  static const absl::flat_hash_set<std::string_view>* const kStop =
      new absl::flat_hash_set<std::string_view>{
          "a",   "an",   "and", "are",  "as",   "at",   "be",  "by",
          "for", "from", "in",  "is",   "it",   "its",  "of",  "on",
          "or",  "the",  "to",  "with", "this", "that", "der", "die",
          "das", "le",   "la",  "les",  "el",   "los",  "de",  "du",
          "des", "il",   "et",  "und",  "vs"};
  return kStop->contains(w);
}

bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

std::string Lower(std::string_view s) {
  return absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
}

// Calls fn(term, a_w * b_w) for every term of both (sorted) vectors.
template <typename Fn>
void ForEachShared(const ContentVector& a, const ContentVector& b, Fn fn) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].first < b[j].first) {
      ++i;
    } else if (b[j].first < a[i].first) {
      ++j;
    } else {
      fn(a[i].first, static_cast<double>(a[i].second) * b[j].second);
      ++i;
      ++j;
    }
  }
}

std::string_view DisplayName(std::string_view term) {
  return term.size() > 2 ? term.substr(2) : term;
}

}  // namespace

std::vector<std::string> ContentIndex::Words(std::string_view text) {
  const std::string lower = Lower(text);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < lower.size()) {
    while (i < lower.size() &&
           !IsWordByte(static_cast<unsigned char>(lower[i]))) {
      ++i;
    }
    size_t j = i;
    while (j < lower.size() && IsWordByte(static_cast<unsigned char>(lower[j])))
      ++j;
    if (j - i >= 2) {
      std::string_view w(lower.data() + i, j - i);
      if (!IsStopWord(w)) out.emplace_back(w);
    }
    i = j;
  }
  return out;
}

std::vector<std::string> ContentIndex::ItemTerms(const Item& item) {
  std::vector<std::string> terms;
  const auto add_words = [&terms](std::string_view text) {
    for (std::string& w : Words(text)) terms.push_back("w:" + std::move(w));
  };
  for (const std::string& path : item.categories) {
    std::string p = Lower(path);
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty()) continue;
    for (size_t slash = p.find('/');; slash = p.find('/', slash + 1)) {
      terms.push_back("c:" + p.substr(0, slash));
      if (slash == std::string::npos) break;
    }
    add_words(p);
  }
  for (const std::string& tag : item.tags) {
    if (tag.empty()) continue;
    terms.push_back("t:" + Lower(tag));
    add_words(tag);
  }
  for (const auto& [key, value] : item.attributes) {
    terms.push_back("a:" + Lower(key) + "=" + Lower(value));
    add_words(value);
  }
  add_words(item.title);
  return terms;
}

int32_t ContentIndex::Intern(const std::string& term) {
  auto [it, inserted] =
      index_.try_emplace(term, static_cast<int32_t>(names_.size()));
  if (inserted) {
    names_.push_back(term);
    postings_.emplace_back();
    fresh_postings_.emplace_back();
    fresh_live_.push_back(0);
    fresh_version_.push_back(0);
    log_df_.push_back(0);
  }
  return it->second;
}

void ContentIndex::Upsert(int32_t item, const Item& record) {
  absl::flat_hash_map<int32_t, float> tf;
  for (const std::string& term : ItemTerms(record)) tf[Intern(term)] += 1;
  std::vector<std::pair<int32_t, float>> terms(tf.begin(), tf.end());
  std::sort(terms.begin(), terms.end());
  if (static_cast<size_t>(item) < item_terms_.size() &&
      !item_terms_[item].empty() && item_terms_[item] == terms) {
    return;  // unchanged content: re-importing a catalog costs no rewrite
  }
  const bool fresh = IsFresh(item);
  Remove(item);
  if (static_cast<size_t>(item) >= item_terms_.size()) {
    item_terms_.resize(item + 1);
  }
  item_terms_[item] = std::move(terms);
  for (const auto& [term, count] : item_terms_[item]) {
    postings_[term].emplace_back(item, count);
    Recount(term);
  }
  if (!item_terms_[item].empty()) ++items_;  // as Remove counts
  log_n_ = std::log1p(static_cast<double>(items_));
  ++idf_epoch_;
  if (static_cast<size_t>(item) >= norm_hint_.size()) {
    norm_hint_.resize(item + 1, 0);
    norms_.resize(item + 1);
  }
  norm_hint_[item] = static_cast<float>(Norm(item));
  if (fresh) SetFresh(item, true);
}

namespace {

// Drops `item`'s entry from a posting list.
void Erase(std::vector<std::pair<int32_t, float>>& list, int32_t item) {
  list.erase(std::remove_if(list.begin(), list.end(),
                            [item](const std::pair<int32_t, float>& p) {
                              return p.first == item;
                            }),
             list.end());
}

}  // namespace

void ContentIndex::Remove(int32_t item) {
  if (item < 0 || static_cast<size_t>(item) >= item_terms_.size()) return;
  auto& terms = item_terms_[item];
  if (terms.empty()) return;
  SetFresh(item, false);
  for (const auto& [term, count] : terms) {
    Erase(postings_[term], item);
    Recount(term);
  }
  terms.clear();
  terms.shrink_to_fit();
  --items_;
  log_n_ = std::log1p(static_cast<double>(items_));
  ++idf_epoch_;
}

void ContentIndex::SetFresh(int32_t item, bool fresh) {
  if (item < 0 || static_cast<size_t>(item) >= item_terms_.size() ||
      item_terms_[item].empty()) {
    return;  // not indexed (Remove clears the mark before it unindexes)
  }
  if (IsFresh(item) == fresh) return;
  IndexFresh(item, fresh);
}

void ContentIndex::IndexFresh(int32_t item, bool add) {
  if (static_cast<size_t>(item) >= item_terms_.size()) return;
  if (static_cast<size_t>(item) >= fresh_.size()) {
    fresh_.resize(item + 1, 0);
    fresh_added_.resize(item + 1, 0);
  }
  fresh_[item] = add ? 1 : 0;
  ++fresh_epoch_;
  if (add) {
    if (fresh_adds_ == std::numeric_limits<uint32_t>::max()) RenumberFresh();
    fresh_added_[item] = ++fresh_adds_;
  }
  const uint32_t added = fresh_added_[item];
  for (const auto& [term, count] : item_terms_[item]) {
    std::vector<FreshPosting>& list = fresh_postings_[term];
    ++fresh_version_[term];
    if (add) {
      list.push_back({item, count, norm_hint_[item], added});
      ++fresh_live_[term];
      continue;
    }
    // The item's live entry: the only one added under its number (an item
    // leaves with the terms it came with: Upsert removes before it changes
    // them).
    const auto entry = std::lower_bound(
        list.begin(), list.end(), added,
        [](const FreshPosting& p, uint32_t a) { return p.added < a; });
    const bool found =
        entry != list.end() && entry->added == added && entry->item == item;
    AISLE_DCHECK(found);
    if (!found) continue;
    entry->item = -1;
    --fresh_live_[term];
    // Compacted when more than half is dead: each dead entry is moved at
    // most once per doubling, so leaving costs O(log n) amortized.
    if (list.size() > 2 * static_cast<size_t>(fresh_live_[term]) + 16) {
      std::erase_if(list, [](const FreshPosting& p) { return !LiveFresh(p); });
    }
  }
}

void ContentIndex::RenumberFresh() {
  // Every list is in `added` order, so numbering the fresh items by their
  // old numbers keeps each list in order.
  std::vector<std::pair<uint32_t, int32_t>> order;
  for (size_t item = 0; item < fresh_added_.size(); ++item) {
    if (IsFresh(static_cast<int32_t>(item))) {
      order.emplace_back(fresh_added_[item], static_cast<int32_t>(item));
    }
  }
  std::sort(order.begin(), order.end());
  fresh_adds_ = 0;
  for (const auto& [old_number, item] : order)
    fresh_added_[item] = ++fresh_adds_;
  for (size_t term = 0; term < fresh_postings_.size(); ++term) {
    std::vector<FreshPosting>& list = fresh_postings_[term];
    std::erase_if(list, [](const FreshPosting& p) { return !LiveFresh(p); });
    for (FreshPosting& p : list) p.added = fresh_added_[p.item];
    ++fresh_version_[term];
  }
}

void ContentIndex::Recount(int32_t term) {
  log_df_[term] = std::log1p(static_cast<double>(postings_[term].size()));
}

// ln((1 + N) / (1 + df)) + 1 from the logs kept on every change, so that
// scoring an item costs no logarithm (a match scores thousands).
float ContentIndex::Idf(int32_t term) const {
  return static_cast<float>(log_n_ - log_df_[term] + 1.0);
}

float ContentIndex::TfWeightOf(float tf) {
  return tf == 1.0f ? 1.0f : 1.0f + std::log(tf);
}

const std::array<float, ContentIndex::kTfTableSize> ContentIndex::kTfWeights =
    [] {
      std::array<float, kTfTableSize> t{};
      for (int i = 0; i < kTfTableSize; ++i) {
        t[i] = TfWeightOf(static_cast<float>(i));
      }
      return t;
    }();

float ContentIndex::Weight(int32_t term, float tf) const {
  return TfWeight(tf) * Idf(term);
}

double ContentIndex::Norm(int32_t item) const {
  if (static_cast<size_t>(item) >= norms_.size()) return ComputeNorm(item);
  std::atomic_ref<uint32_t> epoch(norms_[item].epoch);
  std::atomic_ref<double> cached(norms_[item].norm);
  if (epoch.load(std::memory_order_acquire) == idf_epoch_) {
    return cached.load(std::memory_order_relaxed);
  }
  const double norm = ComputeNorm(item);
  cached.store(norm, std::memory_order_relaxed);
  epoch.store(idf_epoch_, std::memory_order_release);
  return norm;
}

double ContentIndex::ComputeNorm(int32_t item) const {
  double norm = 0;
  for (const auto& [term, tf] : item_terms_[item]) {
    const double w = Weight(term, tf);
    norm += w * w;
  }
  return std::sqrt(norm);
}

template <typename Fn>
void ContentIndex::ForEachItemWeight(int32_t item, Fn fn) const {
  if (item < 0 || static_cast<size_t>(item) >= item_terms_.size()) return;
  const double norm = Norm(item);
  if (norm <= 0) return;
  for (const auto& [term, tf] : item_terms_[item]) {
    fn(term, static_cast<float>(Weight(term, tf) / norm));
  }
}

ContentVector ContentIndex::ItemVector(int32_t item) const {
  ContentVector v;
  if (item >= 0 && static_cast<size_t>(item) < item_terms_.size()) {
    v.reserve(item_terms_[item].size());
  }
  ForEachItemWeight(item,
                    [&v](int32_t term, float w) { v.emplace_back(term, w); });
  return v;
}

void ContentIndex::AccumulateItem(int32_t item, double weight,
                                  ContentProfile* profile) const {
  ForEachItemWeight(
      item, [&](int32_t term, float w) { (*profile)[term] += weight * w; });
}

void ContentIndex::Prefetch(std::span<const int32_t> items) const {
  // Three waves, each of independent reads: the items' term lists and
  // norms, then the terms themselves (each list's address is known once
  // the first wave arrived), then the terms' weights.
  const auto known = [this](int32_t item) {
    return item >= 0 && static_cast<size_t>(item) < item_terms_.size();
  };
  for (int32_t item : items) {
    if (!known(item)) continue;
    __builtin_prefetch(&item_terms_[item]);
    if (static_cast<size_t>(item) < norms_.size()) {
      __builtin_prefetch(&norms_[item]);
    }
  }
  for (int32_t item : items) {
    if (!known(item)) continue;
    const auto& terms = item_terms_[item];
    const char* begin = reinterpret_cast<const char*>(terms.data());
    const char* end =
        reinterpret_cast<const char*>(terms.data() + terms.size());
    for (const char* line = begin; line < end; line += 64) {
      __builtin_prefetch(line);
    }
  }
  for (int32_t item : items) {
    if (!known(item)) continue;
    for (const auto& [term, tf] : item_terms_[item]) {
      __builtin_prefetch(&log_df_[term]);
    }
  }
}

ContentVector ContentIndex::QueryVector(std::string_view query) const {
  ContentProfile tf;
  for (const std::string& w : Words(query)) {
    auto it = index_.find("w:" + w);
    if (it != index_.end() && !postings_[it->second].empty()) {
      tf[it->second] += 1;
    }
  }
  ContentProfile weighted;
  for (const auto& [term, count] : tf) {
    weighted[term] = Weight(term, static_cast<float>(count));
  }
  return Normalize(weighted, weighted.size());
}

void ContentIndex::Accumulate(const ContentVector& v, double weight,
                              ContentProfile* profile) {
  for (const auto& [term, w] : v) (*profile)[term] += weight * w;
}

ContentVector ContentIndex::Normalize(const ContentProfile& profile,
                                      size_t max_terms) {
  std::vector<std::pair<double, int32_t>> top;
  top.reserve(profile.size());
  for (const auto& [term, w] : profile) {
    if (w > 0) top.emplace_back(w, term);
  }
  // The strongest max_terms, ties by term id: hash order must not decide.
  // They are selected, not sorted (a profile holds hundreds of terms), then
  // put in term order, which is v's and the norm's summation order.
  if (top.size() > max_terms) {
    std::nth_element(
        top.begin(), top.begin() + static_cast<std::ptrdiff_t>(max_terms),
        top.end(), [](const auto& a, const auto& b) {
          return a.first != b.first ? a.first > b.first : a.second < b.second;
        });
    top.resize(max_terms);
  }
  std::sort(top.begin(), top.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  double norm = 0;
  for (const auto& [w, term] : top) norm += w * w;
  ContentVector v;
  if (norm <= 0) return v;
  const double inv = 1.0 / std::sqrt(norm);
  v.reserve(top.size());
  for (const auto& [w, term] : top) {
    v.emplace_back(term, static_cast<float>(w * inv));
  }
  return v;
}

double ContentIndex::Dot(const ContentVector& a, const ContentVector& b) {
  double sum = 0;
  ForEachShared(a, b, [&sum](int32_t, double product) { sum += product; });
  return sum;
}

std::vector<std::string> ContentIndex::SharedTerms(const ContentVector& q,
                                                   int32_t item,
                                                   size_t n) const {
  const ContentVector v = ItemVector(item);
  std::vector<std::pair<double, int32_t>> shared;
  ForEachShared(q, v, [&shared](int32_t term, double product) {
    shared.emplace_back(product, term);
  });
  std::sort(shared.begin(), shared.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> out;
  for (const auto& [w, term] : shared) {
    if (out.size() >= n) break;
    std::string name(DisplayName(names_[term]));
    if (std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(std::move(name));
    }
  }
  return out;
}

}  // namespace aisle::core
