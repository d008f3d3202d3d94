#include "server/raw_messages.h"

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/common.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace aisle::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::io::CodedInputStream;

// Our messages nest three deep; protobuf's own limit is 100.
constexpr int kMaxDepth = 32;

std::string Join(const std::string& path, const std::string& name) {
  return path.empty() ? name : absl::StrCat(path, ".", name);
}

// The path of one occurrence of field `number` of `type` under `path`:
// "events[2]" for the third element of a repeated field, "field 9" for a
// number the type does not declare.
std::string FieldPath(const FieldDescriptor* field, uint32_t number,
                      const std::string& path,
                      absl::flat_hash_map<uint32_t, int>& seen) {
  if (field == nullptr) return Join(path, absl::StrCat("field ", number));
  std::string name = Join(path, field->name());
  if (field->is_repeated()) absl::StrAppend(&name, "[", seen[number]++, "]");
  return name;
}

std::string Walk(const Descriptor& type, std::string_view bytes,
                 const std::string& path, int depth) {
  if (depth > kMaxDepth) return absl::StrCat(path, ": nested too deep");
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  absl::flat_hash_map<uint32_t, int> seen;  // repeated field -> next index
  while (static_cast<size_t>(in.CurrentPosition()) < bytes.size()) {
    const int offset = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    const uint32_t number = tag >> 3;
    if (number == 0) {
      return absl::StrCat(path.empty() ? "" : absl::StrCat(path, ": "),
                          "invalid field tag at byte ", offset);
    }
    const FieldDescriptor* field =
        type.FindFieldByNumber(static_cast<int>(number));
    const std::string at = FieldPath(field, number, path, seen);
    uint64_t scalar = 0;
    uint32_t length = 0;
    switch (tag & 7) {
      case 0:
        if (!in.ReadVarint64(&scalar)) return at + ": truncated varint";
        break;
      case 1:
        if (!in.ReadLittleEndian64(&scalar)) return at + ": truncated";
        break;
      case 5:
        if (!in.ReadLittleEndian32(&length)) return at + ": truncated";
        break;
      case 2: {
        if (!in.ReadVarint32(&length)) return at + ": truncated length";
        const size_t start = static_cast<size_t>(in.CurrentPosition());
        const size_t left = bytes.size() - start;
        if (length > left) {
          return absl::StrCat(at, ": truncated: length ", length, " but ", left,
                              " bytes left");
        }
        const std::string_view value = bytes.substr(start, length);
        in.Skip(static_cast<int>(length));
        if (field == nullptr) break;
        if (field->type() == FieldDescriptor::TYPE_STRING) {
          const int valid =
              google::protobuf::internal::UTF8SpnStructurallyValid(
                  google::protobuf::StringPiece(value.data(), value.size()));
          if (static_cast<size_t>(valid) < value.size()) {
            return absl::StrCat(
                at, ": string is not valid UTF-8 (byte 0x",
                absl::Hex(static_cast<unsigned char>(value[valid]),
                          absl::kZeroPad2),
                " at offset ", valid, "); send bytes as UTF-8 text");
          }
        } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
          std::string inner =
              Walk(*field->message_type(), value, at, depth + 1);
          if (!inner.empty()) return inner;
        }
        break;
      }
      default:
        return absl::StrCat(at, ": invalid wire type ", tag & 7);
    }
  }
  return "";
}

}  // namespace

std::string DescribeParseFailure(const Descriptor& type,
                                 std::string_view bytes) {
  return Walk(type, bytes, "", 0);
}

absl::Status ParseMessage(const grpc::ByteBuffer* buffer,
                          google::protobuf::Message* message) {
  message->Clear();
  if (buffer == nullptr || !buffer->Valid()) {
    return absl::InvalidArgumentError(
        "request could not be parsed: no complete message arrived (the "
        "stream ended before the bytes its length prefix promised)");
  }
  {
    grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(buffer));
    if (reader.status().ok() && message->ParseFromZeroCopyStream(&reader)) {
      return absl::OkStatus();
    }
  }
  grpc::Slice flat;
  std::string why;
  if (buffer->DumpToSingleSlice(&flat).ok()) {
    why = DescribeParseFailure(
        *message->GetDescriptor(),
        std::string_view(reinterpret_cast<const char*>(flat.begin()),
                         flat.size()));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "request could not be parsed: ",
      why.empty() ? "not a valid " + message->GetTypeName() + " message"
                  : why));
}

absl::Status SerializeMessage(const google::protobuf::MessageLite& message,
                              grpc::ByteBuffer* buffer) {
  bool own_buffer = false;
  grpc::Status status =
      grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
          message, buffer, &own_buffer);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("serializing the response: ", status.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace aisle::server
