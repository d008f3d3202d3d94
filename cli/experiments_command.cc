// `aisle experiments report`: the A/B experiments' report from a running
// server (GetExperimentReport): per arm the attributed impressions, clicks
// and purchases, CTR and conversion with confidence intervals, and each
// arm against the control.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "aisle/v1/recommender.grpc.pb.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/rpc.h"
#include "cli/text.h"

namespace aisle::cli {
namespace {

std::string Percent(double p) { return absl::StrFormat("%.2f%%", 100 * p); }

std::string WithInterval(const v1::Proportion& p) {
  return absl::StrCat(Percent(p.value()), " [", Percent(p.low()), ", ",
                      Percent(p.high()), "]");
}

std::string Versus(const v1::ArmComparison& c, bool control) {
  if (control) return "(control)";
  return absl::StrFormat("%+.1f%% p=%.3g%s", 100 * c.relative_lift(),
                         c.p_value(), c.significant() ? " *" : "");
}

void PrintExperiment(const v1::ExperimentResult& xp, double confidence) {
  std::cout << "experiment " << xp.name() << " ("
            << absl::StrJoin(xp.scenarios(), ", ") << "), control "
            << xp.control() << "\n";
  const std::string level = absl::StrFormat("%.0f%%", 100 * confidence);
  Table table({"variant", "share", "impressions", "clicks", "purchases",
               "CTR [" + level + " CI]", "CTR vs control",
               "conversion [" + level + " CI]", "conversion vs control"});
  for (int i = 0; i < xp.arms_size(); ++i) {
    const v1::ExperimentArm& arm = xp.arms(i);
    table.AddRow({arm.variant(), Percent(arm.share()),
                  FormatCount(arm.impressions()), FormatCount(arm.clicks()),
                  FormatCount(arm.purchases()), WithInterval(arm.ctr()),
                  Versus(arm.ctr_vs_control(), i == 0),
                  WithInterval(arm.conversion()),
                  Versus(arm.conversion_vs_control(), i == 0)});
  }
  std::cout << table.Render() << xp.summary() << "\n";
}

}  // namespace

int RunExperiments(const Args& args) {
  ClientFlags client;
  std::string experiment;
  double confidence = 0.95;
  bool json = false;
  FlagParser parser(
      "aisle experiments report [flags]",
      "Prints each A/B experiment's arms (the server's --experiments): "
      "events attributed through recommendation ids, CTR and conversion "
      "per impression with Wilson intervals, and each arm against the "
      "control (two-proportion z-test; * = significant).");
  client.Register(parser);
  parser.String("experiment", &experiment, "only this experiment");
  parser.Double("confidence", &confidence,
                "confidence of the intervals, 0.5..0.999 (default 0.95)");
  parser.Bool("json", &json, "print the raw response as JSON");
  std::vector<std::string> positional;
  if (auto exit = ParseOrExit(parser, args, &positional)) return *exit;
  if (positional.size() != 1 || positional[0] != "report") {
    return UsageError(parser, "expected 'experiments report'");
  }
  v1::GetExperimentReportRequest request;
  request.set_experiment(experiment);
  request.set_confidence(confidence);
  v1::ExperimentReport report;
  if (auto exit = RecommenderClient(client).CallOrExit(
          &RecommenderClient::Stub::GetExperimentReport, request, &report)) {
    return *exit;
  }
  if (json) return PrintJson(report);
  if (report.experiments_size() == 0) {
    std::cout << "no experiments (start the server with --experiments FILE; "
                 "docs/experiments.md)\n";
    return kExitOk;
  }
  for (const v1::ExperimentResult& xp : report.experiments()) {
    PrintExperiment(xp, report.confidence());
  }
  return kExitOk;
}

}  // namespace aisle::cli
