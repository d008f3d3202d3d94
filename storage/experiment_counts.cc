// Store: the A/B experiment counters, in the meta column family under
// "xcount:<scenario>:<type>:<variant>" with decimal values. They are a few
// dozen keys, so a read-modify-write under a mutex costs nothing worth a
// merge operator.
#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/string_view.h"
#include "storage/store_impl.h"

namespace aisle::storage {
namespace {

constexpr std::string_view kCountPrefix = "xcount:";

std::string CountKey(const ExperimentCount& c) {
  return absl::StrCat(core::ToAbsl(kCountPrefix), static_cast<int>(c.scenario),
                      ":", static_cast<int>(c.type), ":",
                      core::ToAbsl(c.variant));
}

}  // namespace

absl::Status Store::AddExperimentCounts(
    std::span<const ExperimentCount> deltas) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.CheckWritable(); !s.ok()) return s;
  for (const ExperimentCount& d : deltas) {
    if (d.variant.empty() || d.variant.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          "experiment counter: the variant must be non-empty without '\\0'");
    }
  }
  std::lock_guard<std::mutex> lock(impl.counts_mu);
  rocksdb::WriteBatch batch;
  // Deltas for the same key within one call add up before the write.
  std::vector<std::pair<std::string, int64_t>> totals;
  for (const ExperimentCount& d : deltas) {
    const std::string key = CountKey(d);
    auto it = std::find_if(totals.begin(), totals.end(),
                           [&](const auto& t) { return t.first == key; });
    if (it != totals.end()) {
      it->second += d.count;
      continue;
    }
    absl::StatusOr<int64_t> stored = impl.GetMetaInt(key);
    if (!stored.ok()) return stored.status();
    totals.emplace_back(key, *stored + d.count);
  }
  for (const auto& [key, total] : totals) {
    batch.Put(impl.meta, key, absl::StrCat(total));
  }
  return impl.Write(&batch, impl.SyncEvents(), "storing experiment counters");
}

absl::StatusOr<std::vector<ExperimentCount>> Store::ExperimentCounts() const {
  const Impl& impl = *impl_;
  std::vector<ExperimentCount> counts;
  absl::Status s = impl.ForEachInPrefix(
      impl.meta, kCountPrefix, rocksdb::ReadOptions(),
      "reading experiment counters",
      [&](std::string_view key, std::string_view value) -> absl::Status {
        const std::vector<absl::string_view> parts =
            absl::StrSplit(core::ToAbsl(key.substr(kCountPrefix.size())),
                           absl::MaxSplits(':', 2));
        int scenario = 0, type = 0;
        int64_t count = 0;
        if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &scenario) ||
            !absl::SimpleAtoi(parts[1], &type) ||
            !absl::SimpleAtoi(core::ToAbsl(value), &count)) {
          return absl::DataLossError(absl::StrCat(
              "experiment counter \"", core::ToAbsl(key),
              "\" is damaged: restore from a backup (aisle restore)"));
        }
        ExperimentCount c;
        c.scenario = static_cast<core::Scenario>(scenario);
        c.type = static_cast<core::EventType>(type);
        c.variant = std::string(parts[2]);
        c.count = count;
        counts.push_back(std::move(c));
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return counts;
}

}  // namespace aisle::storage
