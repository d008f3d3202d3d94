#include "cli/eval_cold_item.h"

#include <iostream>
#include <vector>

#include "absl/status/status.h"
#include "cli/output.h"
#include "cli/text.h"
#include "core/eval.h"
#include "core/eval_cold_item.h"

namespace aisle::cli {

int RunColdItemEval(const FlagParser& parser, const std::string& ratings_path,
                    const std::string& items_path, int k, int64_t seed) {
  if (ratings_path.empty() || items_path.empty()) {
    return UsageError(parser,
                      "--ratings and --items (MovieLens u.item) are required "
                      "with cold-item");
  }
  if (k < 1) return UsageError(parser, "--k: must be >= 1");
  absl::StatusOr<std::vector<core::Rating>> ratings =
      core::LoadRatings(ratings_path);
  if (!ratings.ok()) {
    PrintError(ratings.status().message(), "check the --ratings path");
    return kExitFailure;
  }
  absl::StatusOr<std::vector<core::Item>> items =
      core::LoadMovieLensItems(items_path);
  if (!items.ok()) {
    PrintError(items.status().message(), "check the --items path (u.item)");
    return kExitFailure;
  }
  core::ColdItemOptions options;
  options.k = k;
  options.seed = static_cast<uint64_t>(seed);
  std::cerr << "evaluating cold items: " << items->size() << " items, "
            << ratings->size() << " ratings, 10% of the rated items held "
            << "out (seed " << seed << ")...\n";
  absl::StatusOr<core::ColdItemReport> report =
      core::EvaluateColdItem(*ratings, *items, options);
  if (!report.ok()) {
    PrintError(report.status().message(), "");
    return kExitFailure;
  }
  const std::string kk = Cat("@", k);
  Table table({"ranking", Cat("NDCG", kk), Cat("Recall", kk), "AUC",
               "held_out_items", "users"});
  const auto row = [&](const char* name, const core::ColdItemScores& s) {
    table.AddRow({name, FormatFixed(s.ndcg, 4), FormatFixed(s.recall, 4),
                  FormatFixed(s.auc, 4), Cat(report->held_out_items),
                  Cat(report->users_evaluated)});
  };
  row("content", report->content);
  row("random", report->random);
  std::cout << table.Render();
  return kExitOk;
}

}  // namespace aisle::cli
