#include "cli/factor_files.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/text.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/validation.h"

namespace aisle::cli {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxFactors = 1024;

struct Row {
  std::string id;
  std::vector<float> values;
};

absl::Status ParseJsonLine(absl::string_view line, Row* row) {
  google::protobuf::Struct obj;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (auto s = google::protobuf::util::JsonStringToMessage(std::string(line),
                                                           &obj, options);
      !s.ok()) {
    return absl::InvalidArgumentError(
        Cat("not a JSON object: ", std::string(s.message())));
  }
  const auto& fields = obj.fields();
  auto id = fields.find("id");
  auto features = fields.find("features");
  if (id == fields.end() || features == fields.end()) {
    return absl::InvalidArgumentError(
        "a JSON line needs \"id\" and \"features\"");
  }
  if (id->second.has_string_value()) {
    row->id = id->second.string_value();
  } else if (id->second.has_number_value()) {
    const double v = id->second.number_value();
    if (v != std::floor(v) || std::fabs(v) > 9.0e15) {
      return absl::InvalidArgumentError("\"id\": not an integer or a string");
    }
    row->id = absl::StrFormat("%.0f", v);
  } else {
    return absl::InvalidArgumentError("\"id\": not an integer or a string");
  }
  if (!features->second.has_list_value()) {
    return absl::InvalidArgumentError("\"features\": not an array");
  }
  for (const auto& v : features->second.list_value().values()) {
    if (!v.has_number_value()) {
      return absl::InvalidArgumentError("\"features\": not all numbers");
    }
    row->values.push_back(static_cast<float>(v.number_value()));
  }
  return absl::OkStatus();
}

absl::Status ParseTextLine(absl::string_view line, Row* row) {
  const size_t tab = line.find('\t');
  if (tab == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "expected ID<TAB>values (or a JSON object)");
  }
  row->id = std::string(line.substr(0, tab));
  for (absl::string_view v : absl::StrSplit(
           line.substr(tab + 1), absl::ByAnyChar(" ,\t"), absl::SkipEmpty())) {
    float f;
    if (!absl::SimpleAtof(v, &f)) {
      return absl::InvalidArgumentError(
          Cat("value \"", std::string(v.substr(0, 40)), "\": not a number"));
    }
    row->values.push_back(f);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<fs::path>> ListFiles(const std::string& path,
                                                const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(Cat(what, ": ", path, " does not exist"));
  }
  if (!fs::is_directory(path, ec)) return std::vector<fs::path>{path};
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.empty() || name[0] == '.' ||
        name[0] == '_') {
      continue;
    }
    files.push_back(e.path());
  }
  if (ec) {
    return absl::InvalidArgumentError(
        Cat(what, ": cannot list ", path, ": ", ec.message()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

absl::StatusOr<FactorFile> ReadFactorFile(const std::string& path,
                                          const std::string& what) {
  absl::StatusOr<std::vector<fs::path>> files = ListFiles(path, what);
  if (!files.ok()) return files.status();
  std::vector<Row> rows;
  absl::flat_hash_set<std::string> seen;
  int factors = 0;
  for (const fs::path& file : *files) {
    std::ifstream in(file);
    if (!in) {
      return absl::InvalidArgumentError(
          Cat(what, ": cannot open ", file.string()));
    }
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      const absl::string_view text = absl::StripAsciiWhitespace(line);
      if (text.empty() || text[0] == '#') continue;
      const auto fail = [&](absl::string_view why) {
        return absl::InvalidArgumentError(
            Cat(what, ": ", file.string(), ":", n, ": ", std::string(why)));
      };
      Row row;
      absl::Status s = text[0] == '{' ? ParseJsonLine(text, &row)
                                      : ParseTextLine(line, &row);
      if (!s.ok()) return fail(s.message());
      if (absl::Status v = server::ValidateId(row.id, "id"); !v.ok()) {
        return fail(v.message());
      }
      const int k = static_cast<int>(row.values.size());
      if (k < 1 || k > kMaxFactors) {
        return fail(Cat(k, " values; a vector has 1..", kMaxFactors));
      }
      if (factors == 0) factors = k;
      if (k != factors) {
        return fail(Cat(k, " values, but the first vector has ", factors));
      }
      for (float f : row.values) {
        if (!std::isfinite(f)) return fail("a value is not finite");
      }
      if (!seen.insert(row.id).second) {
        return fail(Cat("id \"", row.id, "\" appears twice"));
      }
      rows.push_back(std::move(row));
    }
  }
  if (rows.empty()) {
    return absl::InvalidArgumentError(
        Cat(what, ": no vectors in ", path,
            " (expected ID<TAB>values lines or Spark JSON lines)"));
  }
  FactorFile out;
  out.factors = factors;
  out.files = static_cast<int>(files->size());
  out.vectors.resize(static_cast<Eigen::Index>(rows.size()), factors);
  out.ids.reserve(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int c = 0; c < factors; ++c) {
      out.vectors(static_cast<Eigen::Index>(r), c) = rows[r].values[c];
    }
    out.ids.push_back(std::move(rows[r].id));
  }
  return out;
}

}  // namespace aisle::cli
