// ghz's options: flags, config file, defaults, method and data.
#include "cli/ghz_options.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "cli/text.h"
#include "core/string_view.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace aisle::cli {

namespace pb = google::protobuf;

void RegisterGhzFlags(FlagParser& parser, GhzFlags* flags) {
  parser.String("call", &flags->call,
                "ghz mode: the unary method to load, e.g. "
                "aisle.v1.Recommender.Recommend, aisle.v1.Recommender.Feedback "
                "or grpc.health.v1.Health.Check; calls go out through the "
                "async API with ghz's options, defaults and reports");
  parser.String("data", &flags->data,
                "ghz mode: the request as JSON (proto field names), with "
                "ghz template actions such as {{.RequestNumber}}, "
                "{{randomInt 0 100}}, {{newUUID}}; a JSON array is used "
                "round-robin; '@' reads it from stdin");
  parser.String("data-file", &flags->data_file,
                "ghz mode: read --data from this file");
  parser.Int("connections", &flags->connections,
             "ghz mode: gRPC connections the workers are spread over");
  parser.Bool("insecure", &flags->insecure,
              "ghz mode: plaintext; without it the call uses TLS, as ghz "
              "does");
  parser.String("format", &flags->format,
                "ghz mode: summary, json, pretty or csv");
  parser.String("output", &flags->output,
                "ghz mode: write the report to this file instead of stdout");
  parser.String("config", &flags->config,
                "ghz mode: a ghz JSON config file; flags given on the "
                "command line win over it");
  // ghz's names for the flags the mix mode has too.
  parser.Alias("concurrency", "c");
  parser.Alias("requests", "n");
  parser.Alias("requests", "total");
  parser.Alias("duration", "z");
  parser.Alias("rps", "r");
  parser.Alias("timeout", "t");
  parser.Alias("tls-ca", "cacert");
  parser.Alias("tls-cert", "cert");
  parser.Alias("tls-key", "key");
  parser.Alias("tls-server-name", "cname");
  parser.Alias("data", "d");
  parser.Alias("data-file", "D");
  parser.Alias("format", "O");
  parser.Alias("output", "o");
}

namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(Cat(flag, ": cannot read '", path, "'"));
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A config value as the text a flag takes: strings as they are, numbers
// without a fraction as integers, durations given as numbers (ghz: ns)
// converted to milliseconds, objects and arrays (data) as JSON.
std::string ValueText(const pb::Value& value, bool is_duration) {
  switch (value.kind_case()) {
    case pb::Value::kStringValue:
      return value.string_value();
    case pb::Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case pb::Value::kNumberValue:
      if (is_duration) {
        return absl::StrFormat("%.0fms", value.number_value() / 1e6);
      }
      return absl::StrFormat("%.15g", value.number_value());
    default: {
      std::string json;
      (void)pb::util::MessageToJsonString(value, &json);
      return json;
    }
  }
}

}  // namespace

absl::Status ApplyGhzConfig(FlagParser& parser, const GhzFlags& flags,
                            std::vector<std::string>* positional) {
  if (flags.config.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> text = ReadWholeFile(flags.config, "--config");
  if (!text.ok()) return text.status();
  pb::Struct config;
  if (auto s = pb::util::JsonStringToMessage(*text, &config); !s.ok()) {
    return absl::InvalidArgumentError(
        Cat("--config ", flags.config,
            ": not a JSON object: ", std::string(s.message())));
  }
  struct Key {
    std::string_view key;
    std::string_view flag;  // "" = ignored
  };
  static constexpr Key kKeys[] = {
      {"call", "call"},
      {"total", "requests"},
      {"n", "requests"},
      {"concurrency", "concurrency"},
      {"c", "concurrency"},
      {"connections", "connections"},
      {"rps", "rps"},
      {"r", "rps"},
      {"qps", "rps"},
      {"q", "rps"},
      {"duration", "duration"},
      {"z", "duration"},
      {"timeout", "timeout"},
      {"t", "timeout"},
      {"data", "data"},
      {"d", "data"},
      {"data-file", "data-file"},
      {"D", "data-file"},
      {"insecure", "insecure"},
      {"cacert", "tls-ca"},
      {"cert", "tls-cert"},
      {"key", "tls-key"},
      {"cname", "tls-server-name"},
      {"format", "format"},
      {"O", "format"},
      {"output", "output"},
      {"o", "output"},
      {"proto", ""},
      {"protoset", ""},
      {"import-paths", ""},
      {"i", ""},
      {"host", ""},
  };
  std::vector<std::string> args;
  for (const auto& [key, value] : config.fields()) {
    const Key* known = nullptr;
    for (const Key& k : kKeys) {
      if (k.key == key) known = &k;
    }
    if (known == nullptr) {
      return absl::InvalidArgumentError(
          Cat("--config ", flags.config, ": key '", key,
              "' is not supported by aisle loadgen (metadata: use --token)"));
    }
    if (key == "host") {
      if (positional->empty()) positional->push_back(ValueText(value, false));
      continue;
    }
    if (known->flag.empty() || parser.IsSet(known->flag)) continue;
    const bool is_duration =
        known->flag == "duration" || known->flag == "timeout";
    args.push_back(Cat("--", known->flag));
    args.push_back(ValueText(value, is_duration));
  }
  absl::StatusOr<std::vector<std::string>> rest = parser.Parse(args);
  if (!rest.ok()) {
    return absl::InvalidArgumentError(
        Cat("--config ", flags.config, ": ", rest.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<GhzSettings> ResolveGhzSettings(
    const FlagParser& parser, const GhzFlags& flags, ClientFlags client,
    int concurrency, double rps, std::chrono::milliseconds duration,
    int64_t requests, int64_t seed,
    const std::vector<std::string>& positional) {
  GhzSettings s;
  s.call = flags.call;
  if (parser.IsSet("seed")) {
    s.seed = static_cast<uint64_t>(seed);
  } else {
    std::random_device device;
    s.seed = (static_cast<uint64_t>(device()) << 32) | device();
  }
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(
        Cat("give one host, not '", positional[1], "'"));
  }
  if (!positional.empty()) client.target = positional[0];
  if (!parser.IsSet("timeout")) client.timeout = std::chrono::seconds(20);
  if (client.timeout.count() <= 0) {
    return absl::InvalidArgumentError("-t/--timeout: must be > 0");
  }
  if (flags.insecure && client.UsesTls()) {
    return absl::InvalidArgumentError(
        "--insecure (plaintext) excludes --cacert/--cert/--key/--tls");
  }
  client.tls = !flags.insecure;
  s.client = std::move(client);
  if (parser.IsSet("concurrency")) s.concurrency = concurrency;
  if (s.concurrency < 1 || s.concurrency > 100000) {
    return absl::InvalidArgumentError("-c/--concurrency: must be 1..100000");
  }
  if (parser.IsSet("duration")) {
    s.duration = duration;
    if (s.duration.count() <= 0) {
      return absl::InvalidArgumentError("-z/--duration: must be > 0");
    }
    // ghz: with a duration, -n is ignored.
    s.total = 0;
  } else if (parser.IsSet("requests")) {
    s.total = requests;
  }
  if (s.duration.count() == 0 && s.total <= 0) {
    return absl::InvalidArgumentError(
        "-n/--total: must be > 0 (or give -z/--duration)");
  }
  if (s.total > 0 && s.total < s.concurrency) {
    return absl::InvalidArgumentError(
        "-n/--total cannot be less than -c/--concurrency");
  }
  s.connections = flags.connections;
  if (s.connections < 1 || s.connections > s.concurrency) {
    return absl::InvalidArgumentError(
        "--connections: must be 1..concurrency (each connection needs a "
        "worker)");
  }
  s.rps = rps;
  if (s.rps < 0) return absl::InvalidArgumentError("-r/--rps: must be >= 0");
  if (!flags.data.empty() && !flags.data_file.empty()) {
    return absl::InvalidArgumentError("give -d/--data or -D/--data-file");
  }
  if (flags.data == "@") {
    s.data.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else if (!flags.data.empty()) {
    s.data = flags.data;
  } else if (!flags.data_file.empty()) {
    absl::StatusOr<std::string> text =
        ReadWholeFile(flags.data_file, "-D/--data-file");
    if (!text.ok()) return text.status();
    s.data = *std::move(text);
  }
  if (flags.format != "summary" && flags.format != "json" &&
      flags.format != "pretty" && flags.format != "csv") {
    return absl::InvalidArgumentError(
        Cat("-O/--format: '", flags.format,
            "' is not one of summary, json, pretty, csv"));
  }
  s.format = flags.format;
  s.output = flags.output;
  return s;
}

namespace {

// grpc.health.v1 (the standard health service, which aisle serves), built
// from its definition: the C++ messages are not part of gRPC's libraries.
const pb::DescriptorPool& HealthPool() {
  static const pb::DescriptorPool* pool = [] {
    pb::FileDescriptorProto file;
    file.set_name("aisle/loadgen/grpc_health_v1.proto");
    file.set_package("grpc.health.v1");
    file.set_syntax("proto3");
    pb::DescriptorProto* request = file.add_message_type();
    request->set_name("HealthCheckRequest");
    pb::FieldDescriptorProto* service = request->add_field();
    service->set_name("service");
    service->set_number(1);
    service->set_type(pb::FieldDescriptorProto::TYPE_STRING);
    service->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
    pb::DescriptorProto* response = file.add_message_type();
    response->set_name("HealthCheckResponse");
    pb::EnumDescriptorProto* serving = response->add_enum_type();
    serving->set_name("ServingStatus");
    int number = 0;
    for (const char* name :
         {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"}) {
      pb::EnumValueDescriptorProto* v = serving->add_value();
      v->set_name(name);
      v->set_number(number++);
    }
    pb::FieldDescriptorProto* status = response->add_field();
    status->set_name("status");
    status->set_number(1);
    status->set_type(pb::FieldDescriptorProto::TYPE_ENUM);
    status->set_type_name(".grpc.health.v1.HealthCheckResponse.ServingStatus");
    status->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
    pb::ServiceDescriptorProto* health = file.add_service();
    health->set_name("Health");
    pb::MethodDescriptorProto* check = health->add_method();
    check->set_name("Check");
    check->set_input_type(".grpc.health.v1.HealthCheckRequest");
    check->set_output_type(".grpc.health.v1.HealthCheckResponse");
    pb::MethodDescriptorProto* watch = health->add_method();
    watch->set_name("Watch");
    watch->set_input_type(".grpc.health.v1.HealthCheckRequest");
    watch->set_output_type(".grpc.health.v1.HealthCheckResponse");
    watch->set_server_streaming(true);
    auto* p = new pb::DescriptorPool();
    p->BuildFile(file);
    return p;
  }();
  return *pool;
}

}  // namespace

absl::StatusOr<GhzMethod> ResolveGhzMethod(std::string_view call) {
  // ghz takes "pkg.Service.Method" and "pkg.Service/Method".
  std::string name = absl::StrReplaceAll(core::ToAbsl(call), {{"/", "."}});
  const pb::MethodDescriptor* method =
      pb::DescriptorPool::generated_pool()->FindMethodByName(name);
  const pb::Message* prototype = nullptr;
  if (method != nullptr) {
    prototype = pb::MessageFactory::generated_factory()->GetPrototype(
        method->input_type());
  } else if ((method = HealthPool().FindMethodByName(name)) != nullptr) {
    static pb::DynamicMessageFactory* factory = new pb::DynamicMessageFactory();
    prototype = factory->GetPrototype(method->input_type());
  }
  if (method == nullptr || prototype == nullptr) {
    return absl::NotFoundError(
        Cat("--call: unknown method '", call,
            "' (known: aisle.v1.Recommender.<Method>, e.g. Recommend, "
            "Feedback, GetItem; grpc.health.v1.Health.Check)"));
  }
  if (method->client_streaming() || method->server_streaming()) {
    return absl::InvalidArgumentError(
        Cat("--call: ", call,
            " is a streaming method; loadgen calls unary "
            "methods only"));
  }
  GhzMethod m;
  m.descriptor = method;
  m.request_prototype = prototype;
  m.path = Cat("/", method->service()->full_name(), "/", method->name());
  m.call_data.fully_qualified_name = method->full_name();
  m.call_data.method_name = method->name();
  m.call_data.service_name = method->service()->full_name();
  m.call_data.input_name = method->input_type()->name();
  m.call_data.output_name = method->output_type()->name();
  return m;
}

absl::StatusOr<std::string> JsonToRequestBytes(const GhzMethod& method,
                                               std::string_view json) {
  std::unique_ptr<pb::Message> request(method.request_prototype->New());
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (auto s = pb::util::JsonStringToMessage(std::string(json), request.get(),
                                             options);
      !s.ok()) {
    return absl::InvalidArgumentError(
        Cat("data does not convert to ",
            method.descriptor->input_type()->full_name(), ": ",
            std::string(s.message())));
  }
  std::string bytes;
  request->SerializeToString(&bytes);
  return bytes;
}

absl::StatusOr<std::vector<CallTemplate>> ParseGhzData(
    std::string_view data, const GhzMethod& method) {
  std::vector<std::string> texts;
  // An array (it parses as JSON when the actions sit inside strings, as
  // they do in ghz's examples) is split into its elements.
  pb::Value parsed;
  if (pb::util::JsonStringToMessage(std::string(data), &parsed).ok() &&
      parsed.has_list_value()) {
    for (const pb::Value& element : parsed.list_value().values()) {
      std::string json;
      (void)pb::util::MessageToJsonString(element, &json);
      texts.push_back(std::move(json));
    }
    if (texts.empty()) {
      return absl::InvalidArgumentError("-d/--data: the array is empty");
    }
  } else {
    texts.emplace_back(data);
  }
  std::vector<CallTemplate> templates;
  std::mt19937_64 rng(1);
  CallData sample = method.call_data;
  sample.worker_id = "g0c0";
  for (const std::string& text : texts) {
    absl::StatusOr<CallTemplate> t = CallTemplate::Parse(text);
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          Cat("-d/--data: ", t.status().message()));
    }
    // Convert one expansion now, so a wrong field fails before any call.
    absl::StatusOr<std::string> bytes =
        JsonToRequestBytes(method, t->Expand(sample, rng));
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          Cat("-d/--data: ", bytes.status().message()));
    }
    templates.push_back(*std::move(t));
  }
  return templates;
}

}  // namespace aisle::cli
