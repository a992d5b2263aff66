#include "tfrecord/tfrecord.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "tfrecord/example.h"

namespace framepair {
namespace {

using ::testing::HasSubstr;

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

std::vector<std::string> SampleRecords() {
  std::mt19937 rng(7);
  std::vector<std::string> records = {"abc", "", std::string(1000, 'z')};
  std::string big(3 << 20, '\0');  // crosses the 1 MiB zlib slices
  for (auto& c : big) c = static_cast<char>(rng() % 16);
  records.push_back(big);
  return records;
}

std::string WriteAll(const std::vector<std::string>& records, TfRecordCompression compression) {
  TfRecordWriter writer(compression);
  for (const auto& r : records) EXPECT_TRUE(writer.Write(r).ok());
  absl::StatusOr<std::string> bytes = writer.Finish();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.value_or("");
}

std::vector<std::string> ReadAll(std::string bytes) {
  auto reader = TfRecordReader::FromBytes(std::move(bytes));
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<std::string> records;
  if (!reader.ok()) return records;
  for (;;) {
    absl::StatusOr<std::string_view> record = reader->Next();
    if (!record.ok()) {
      EXPECT_EQ(record.status().code(), absl::StatusCode::kOutOfRange) << record.status();
      return records;
    }
    records.emplace_back(*record);
  }
}

absl::Status FirstError(std::string bytes) {
  auto reader = TfRecordReader::FromBytes(std::move(bytes));
  if (!reader.ok()) return reader.status();
  for (;;) {
    absl::StatusOr<std::string_view> record = reader->Next();
    if (!record.ok()) return record.status();
  }
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / ("fp_tfrecord_" + name)).string();
}

// Computed independently (bit-by-bit CRC32C in Python) from the DESIGN.md formula:
// 03 00 00 00 00 00 00 00 | mask(crc(length)) LE | "abc" | mask(crc("abc")) LE.
TEST(TfRecordTest, FramingKnownAnswers) {
  EXPECT_EQ(Hex(FrameTfRecord("abc")), "0300000000000000b099490e6162636e57f121");
  EXPECT_EQ(Hex(FrameTfRecord("")), "000000000000000029039807d8ea82a2");
}

TEST(TfRecordTest, UncompressedWriterIsConcatenatedFraming) {
  const std::vector<std::string> records = SampleRecords();
  std::string expected;
  for (const auto& r : records) expected += FrameTfRecord(r);
  EXPECT_EQ(WriteAll(records, TfRecordCompression::kNone), expected);
}

TEST(TfRecordTest, RoundTripsBothCompressions) {
  const std::vector<std::string> records = SampleRecords();
  EXPECT_EQ(ReadAll(WriteAll(records, TfRecordCompression::kNone)), records);
  const std::string gz = WriteAll(records, TfRecordCompression::kGzip);
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(Hex(gz.substr(0, 2)), "1f8b");
  EXPECT_EQ(ReadAll(gz), records);
  EXPECT_EQ(gz, WriteAll(records, TfRecordCompression::kGzip)) << "GZIP output not reproducible";
}

TEST(TfRecordTest, EmptyFilesHaveNoRecords) {
  EXPECT_TRUE(ReadAll(WriteAll({}, TfRecordCompression::kNone)).empty());
  const std::string gz = WriteAll({}, TfRecordCompression::kGzip);
  EXPECT_FALSE(gz.empty());
  EXPECT_TRUE(ReadAll(gz).empty());
}

TEST(TfRecordTest, SystemGzipReadsOurGzip) {
  const std::vector<std::string> records = SampleRecords();
  const std::string path = TempPath("system.tfrecord.gz");
  {
    std::ofstream out(path, std::ios::binary);
    out << WriteAll(records, TfRecordCompression::kGzip);
  }
  FILE* pipe = ::popen(("gzip -dc '" + path + "'").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string plain;
  char buffer[1 << 16];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) plain.append(buffer, n);
  EXPECT_EQ(::pclose(pipe), 0);
  EXPECT_EQ(plain, WriteAll(records, TfRecordCompression::kNone));
  std::filesystem::remove(path);
}

TEST(TfRecordTest, ReadsConcatenatedGzipMembers) {
  const std::string a = WriteAll({"one"}, TfRecordCompression::kGzip);
  const std::string b = WriteAll({"two", "three"}, TfRecordCompression::kGzip);
  EXPECT_EQ(ReadAll(a + b), (std::vector<std::string>{"one", "two", "three"}));
}

TEST(TfRecordTest, PlainFileStartingWithGzipMagicIsNotInflated) {
  // Length 0x8b1f is written little-endian as 1f 8b ..., the GZIP magic.
  const std::string record(0x8b1f, 'q');
  const std::string bytes = WriteAll({record}, TfRecordCompression::kNone);
  ASSERT_EQ(Hex(bytes.substr(0, 2)), "1f8b");
  EXPECT_EQ(ReadAll(bytes), std::vector<std::string>{record});
}

TEST(TfRecordTest, TruncationIsDataLossWithOffset) {
  const std::string bytes = WriteAll({"abc", "defgh"}, TfRecordCompression::kNone);
  const size_t second = FrameTfRecord("abc").size();  // 19
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    if (cut == second) continue;  // a clean end after the first record
    const absl::Status status = FirstError(bytes.substr(0, cut));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << "cut at " << cut;
    EXPECT_THAT(status.message(), HasSubstr(cut < second ? "byte offset 0" : "byte offset 19"))
        << status;
  }
  EXPECT_EQ(FirstError(bytes.substr(0, second)).code(), absl::StatusCode::kOutOfRange);
}

TEST(TfRecordTest, CorruptionIsDataLossWithOffset) {
  const std::string good = WriteAll({"abc", "defgh"}, TfRecordCompression::kNone);
  std::string bad_data = good;
  bad_data[19 + 12 + 2] ^= 1;
  absl::Status status = FirstError(bad_data);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("corrupt record data at byte offset 19"));

  std::string bad_length = good;
  bad_length[19] ^= 1;
  status = FirstError(bad_length);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("corrupt record length at byte offset 19"));
}

TEST(TfRecordTest, DamagedGzipIsDataLoss) {
  const std::string gz = WriteAll(SampleRecords(), TfRecordCompression::kGzip);
  const absl::Status truncated = FirstError(gz.substr(0, gz.size() / 2));
  EXPECT_EQ(truncated.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(truncated.message(), HasSubstr("truncated"));

  std::string flipped = gz;
  flipped[gz.size() - 6] ^= 0xff;  // the trailer's CRC-32 of the uncompressed data
  EXPECT_EQ(FirstError(flipped).code(), absl::StatusCode::kDataLoss);
}

// Regression (fuzz/corpus/tfrecord/regress-gzip-trailer.tfrecord.gz): a damaged GZIP trailer
// used to drop the last record when the file came in one piece, not when it came in small
// ones. The records inflated before the damage are read either way, then DATA_LOSS.
TEST(TfRecordTest, DamagedGzipYieldsTheSameRecordsHoweverItIsRead) {
  const std::vector<std::string> records = SampleRecords();
  std::string damaged = WriteAll(records, TfRecordCompression::kGzip);
  damaged.insert(damaged.size() - 4, 1, '\x5a');  // inside the trailer (CRC-32, size)
  for (size_t piece : {damaged.size(), size_t{4096}, size_t{7}}) {
    size_t pos = 0;
    auto source = [&](char* out, size_t n) -> absl::StatusOr<size_t> {
      const size_t k = std::min({n, damaged.size() - pos, piece});
      std::memcpy(out, damaged.data() + pos, k);
      pos += k;
      return k;
    };
    auto reader = TfRecordReader::FromSource(source);
    ASSERT_TRUE(reader.ok()) << reader.status();
    std::vector<std::string> got;
    absl::StatusOr<std::string_view> record;
    while ((record = reader->Next()).ok()) got.emplace_back(*record);
    EXPECT_EQ(got, records) << "pieces of " << piece;
    EXPECT_EQ(record.status().code(), absl::StatusCode::kDataLoss) << "pieces of " << piece;
  }
}

TEST(TfRecordTest, WriterRefusesUseAfterFinish) {
  TfRecordWriter writer;
  ASSERT_TRUE(writer.Finish().ok());
  EXPECT_EQ(writer.Write("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(writer.Finish().ok());
}

// Example{features{feature{"a": bytes_list{"x"}}}}, encoded by hand from the field numbers in
// TensorFlow's example.proto / feature.proto.
TEST(ExampleTest, SerializationKnownAnswer) {
  framepair::v1::tf::Example example;
  const std::string x = "x";
  AddBytesFeature(&example, "a", {&x});
  EXPECT_EQ(Hex(SerializeExampleDeterministic(example)),
            "0a0c0a0a0a0161120"
            "50a030a0178");

  framepair::v1::tf::Example numbers;
  AddInt64Feature(&numbers, "n", {1, 300});
  // Int64List is packed: 0a 03 01 ac 02; Feature.int64_list is field 3 (1a).
  EXPECT_EQ(Hex(SerializeExampleDeterministic(numbers)), "0a0e0a0c0a016e12071a050a0301ac02");
}

TEST(ExampleTest, SerializationIgnoresInsertionOrder) {
  const std::string png1 = "png-one", png2 = "png-two";
  framepair::v1::tf::Example forward, backward;
  const std::vector<std::string> names = {"input", "target", "images", "z", "a", "m"};
  for (const auto& name : names) AddBytesFeature(&forward, name, {&png1, &png2});
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    AddBytesFeature(&backward, *it, {&png1, &png2});
  }
  const std::string bytes = SerializeExampleDeterministic(forward);
  EXPECT_EQ(bytes, SerializeExampleDeterministic(backward));
  EXPECT_LT(bytes.find("input"), bytes.find("target")) << "map keys not sorted";
  EXPECT_LT(bytes.find("\x01"
                       "a"),
            bytes.find("images"));
}

TEST(ExampleTest, ParseRoundTripAndReplace) {
  const std::string a = "a", b = "b", c = "c";
  framepair::v1::tf::Example example;
  AddBytesFeature(&example, "input", {&a, &b});
  AddBytesFeature(&example, "input", {&c});  // replaces, does not append
  AddInt64Feature(&example, "frame", {5});
  auto parsed = ParseExample(SerializeExampleDeterministic(example));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const auto& features = parsed->features().feature();
  ASSERT_EQ(features.size(), 2u);
  EXPECT_THAT(features.at("input").bytes_list().value(), ::testing::ElementsAre("c"));
  EXPECT_THAT(features.at("frame").int64_list().value(), ::testing::ElementsAre(5));

  EXPECT_EQ(ParseExample("\x0a\x05"
                         "ab")
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace framepair
