// Reading factor vectors trained elsewhere (e.g. Spark MLlib ALS) for
// `aisle models import`. Two formats, told apart per line:
//
//   text:        ID<TAB>v1 v2 ... vk     (values split by spaces, commas or
//                                         tabs; '#' lines and blank lines
//                                         are skipped)
//   JSON lines:  {"id": 42, "features": [0.1, ...]}
//                (what Spark writes with `model.itemFactors.write.json(dir)`;
//                 a numeric id is taken as its decimal text)
//
// A path may be a file or a directory; a directory's regular files are read
// in name order, skipping names that start with '.' or '_' (Spark's
// `_SUCCESS` and `.crc` files).
//
// Errors (InvalidArgument, naming the file and line): an id that is not a
// valid Aisle id (server/validation.h), a repeated id, a vector whose length
// differs from the first one's or is outside 1..1024, a value that is not a
// finite number. NotFound if the path does not exist, InvalidArgument if it
// holds no vectors.
//
// Thread safety: a pure function.
#ifndef AISLE_CLI_FACTOR_FILES_H_
#define AISLE_CLI_FACTOR_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/als.h"

namespace aisle::cli {

struct FactorFile {
  std::vector<std::string> ids;
  core::RowMatrix vectors;  // ids.size() x factors
  int factors = 0;
  int files = 0;  // files read
};

// Reads every vector under `path`; `what` ("--item-factors") prefixes
// errors.
absl::StatusOr<FactorFile> ReadFactorFile(const std::string& path,
                                          const std::string& what);

}  // namespace aisle::cli

#endif  // AISLE_CLI_FACTOR_FILES_H_
