#include "storage/s3_store.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/file.h"
#include "util/quote.h"
#include "util/sha256.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

bool Unreserved(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
         c == '~';
}

// SigV4's URI encoding: everything but the unreserved characters, once ('/' kept in paths).
std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out += {'%', kHex[u >> 4], kHex[u & 15]};
    }
  }
  return out;
}

// A canonical query string (sorted by name, encoded, "name=" for empty values): libcurl 7.88
// signs the query as it is sent, so it is sent already canonical.
std::string Query(std::vector<std::pair<std::string, std::string>> params) {
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    absl::StrAppend(&out, out.empty() ? "" : "&", UriEncode(k, false), "=", UriEncode(v, false));
  }
  return out;
}

// The text of the first <tag>...</tag> after `from`, or "".
std::string XmlValue(const std::string& xml, const std::string& tag, size_t* from = nullptr) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  const size_t start = xml.find(open, from ? *from : 0);
  if (start == std::string::npos) return "";
  const size_t end = xml.find(close, start);
  if (end == std::string::npos) return "";
  if (from) *from = end + close.size();
  std::string v = xml.substr(start + open.size(), end - start - open.size());
  // The entities S3 uses in keys and ETags.
  for (const auto& [entity, c] : std::vector<std::pair<std::string, std::string>>{
           {"&quot;", "\""}, {"&apos;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}) {
    for (size_t p; (p = v.find(entity)) != std::string::npos;) v.replace(p, entity.size(), c);
  }
  return v;
}

struct Response {
  long status = 0;
  CURLcode curl = CURLE_OK;
  std::string body;
  std::string etag;
};

// 501 NotImplemented is the server refusing the request for good (s3rver answers it to
// UploadPartCopy): retrying cannot help.
bool Retryable(const Response& r) {
  return r.curl != CURLE_OK || (r.status >= 500 && r.status != 501) || r.status == 429;
}

size_t WriteToString(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t WriteToFile(char* data, size_t size, size_t n, void* user) {
  return std::fwrite(data, size, n, static_cast<FILE*>(user)) * size;
}

size_t ReadHeader(char* data, size_t size, size_t n, void* user) {
  absl::string_view line(data, size * n);
  if (absl::StartsWithIgnoreCase(line, "etag:")) {
    *static_cast<std::string*>(user) = std::string(absl::StripAsciiWhitespace(line.substr(5)));
  }
  return size * n;
}

class S3Store : public ObjectStore {
 public:
  S3Store(ObjectUrl url, std::string endpoint, std::string region, std::string key_id,
          std::string secret, std::string token, ObjectStoreOptions options)
      : url_(std::move(url)),
        endpoint_(std::move(endpoint)),
        region_(std::move(region)),
        key_id_(std::move(key_id)),
        secret_(std::move(secret)),
        token_(std::move(token)),
        options_(options),
        curl_(curl_easy_init(), &curl_easy_cleanup) {}

  std::string Describe() const override {
    return absl::StrCat(url_.scheme, "://", url_.bucket, "/", url_.prefix);
  }

  absl::Status Check() override {
    if (!curl_) return absl::InternalError("cannot initialise libcurl");
    // A listing narrowed to one key: cheap on any bucket, and it needs the same rights (and
    // the same signature) as everything after it.
    FP_ASSIGN_OR_RETURN(
        Response r,
        Send("GET", "", Query({{"list-type", "2"}, {"prefix", url_.prefix + "manifest.json"}}), "",
             {}));
    return Fail(r, "");
  }

  absl::Status PutFile(const std::string& key, const std::string& local_path) override {
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(local_path.c_str(), "rb"), &std::fclose);
    if (!in) return ErrnoError(errno, absl::StrCat("cannot open ", local_path), "");
    struct stat st {};
    if (::fstat(fileno(in.get()), &st) != 0) {
      return ErrnoError(errno, absl::StrCat("cannot read ", local_path), "");
    }
    const absl::StatusOr<int64_t> part_bytes = MultipartPartBytes(st.st_size, options_.part_bytes);
    if (!part_bytes.ok()) {
      return absl::Status(part_bytes.status().code(),
                          absl::StrCat(Where(key), ": ", part_bytes.status().message()));
    }
    // A buffer of one part at most (a smaller file needs no more than its size).
    std::string part(static_cast<size_t>(std::min<int64_t>(*part_bytes, st.st_size + 1)), '\0');
    size_t got = std::fread(part.data(), 1, part.size(), in.get());
    if (got < part.size()) {  // one request
      if (std::ferror(in.get())) {
        return ErrnoError(errno, absl::StrCat("cannot read ", local_path), "");
      }
      part.resize(got);
      return PutBytes(key, part);
    }
    // Multipart, one part in memory at a time.
    return Multipart(key, [&](const std::string& upload_id, std::string* etags) -> absl::Status {
      for (int number = 1; got > 0; ++number) {
        part.resize(got);
        FP_ASSIGN_OR_RETURN(Response r,
                            Send("PUT", Full(key), PartQuery(number, upload_id), part, {}));
        FP_RETURN_IF_ERROR(Fail(r, key));
        AppendPart(etags, number, r.etag);
        part.resize(static_cast<size_t>(*part_bytes));
        got = std::fread(part.data(), 1, part.size(), in.get());
      }
      if (std::ferror(in.get())) {
        return ErrnoError(errno, absl::StrCat("cannot read ", local_path), "");
      }
      return absl::OkStatus();
    });
  }

  absl::Status PutBytes(const std::string& key, std::string_view bytes) override {
    FP_ASSIGN_OR_RETURN(Response r, Send("PUT", Full(key), "", bytes, {}));
    return Fail(r, key);
  }

  absl::Status Copy(const std::string& from_key, const std::string& to_key, int64_t size) override {
    const std::string source =
        absl::StrCat("x-amz-copy-source: /", url_.bucket, "/", UriEncode(Full(from_key), true));
    if (size <= options_.max_single_copy) {
      FP_ASSIGN_OR_RETURN(Response r, Send("PUT", Full(to_key), "", "", {source}));
      return Fail(r, to_key);
    }
    // Larger than one CopyObject may copy: a multipart upload of the destination whose parts
    // are ranges of the source (UploadPartCopy), still without data through this machine
    // (tests/s3/s3_copy_test.cc runs it against a server that implements it).
    const absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> ranges =
        CopyPartRanges(size, options_.copy_part_bytes);
    if (!ranges.ok()) {
      return absl::Status(ranges.status().code(),
                          absl::StrCat(Where(from_key), ": ", ranges.status().message()));
    }
    return Multipart(to_key, [&](const std::string& upload_id, std::string* etags) -> absl::Status {
      for (size_t i = 0; i < ranges->size(); ++i) {
        const int number = static_cast<int>(i) + 1;
        const std::string range = absl::StrCat(
            "x-amz-copy-source-range: bytes=", (*ranges)[i].first, "-", (*ranges)[i].second);
        FP_ASSIGN_OR_RETURN(Response r, Send("PUT", Full(to_key), PartQuery(number, upload_id), "",
                                             {source, range}));
        FP_RETURN_IF_ERROR(Fail(r, to_key));
        // The part's ETag is in the CopyPartResult body, not in a header.
        const std::string etag = XmlValue(r.body, "ETag");
        if (etag.empty()) {
          return absl::UnavailableError(
              absl::StrCat(Where(to_key), ": no ETag in the answer to copying part ", number));
        }
        AppendPart(etags, number, etag);
      }
      return absl::OkStatus();
    });
  }

  absl::Status Delete(const std::string& key) override {
    FP_ASSIGN_OR_RETURN(Response r, Send("DELETE", Full(key), "", "", {}));
    if (r.status == 404) return absl::OkStatus();
    return Fail(r, key);
  }

  absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    std::string token;
    for (;;) {
      std::vector<std::pair<std::string, std::string>> params = {{"list-type", "2"},
                                                                 {"prefix", Full(prefix)}};
      if (!token.empty()) params.push_back({"continuation-token", token});
      FP_ASSIGN_OR_RETURN(Response r, Send("GET", "", Query(params), "", {}));
      FP_RETURN_IF_ERROR(Fail(r, prefix));
      size_t at = 0;
      for (;;) {
        const std::string contents = XmlValue(r.body, "Contents", &at);
        if (contents.empty()) break;
        ObjectInfo info;
        info.key = XmlValue(contents, "Key");
        if (!absl::StartsWith(info.key, url_.prefix)) continue;
        info.key = info.key.substr(url_.prefix.size());
        if (!absl::SimpleAtoi(XmlValue(contents, "Size"), &info.size)) info.size = -1;
        out.push_back(std::move(info));
      }
      if (XmlValue(r.body, "IsTruncated") != "true") break;
      token = XmlValue(r.body, "NextContinuationToken");
      if (token.empty()) break;
    }
    std::sort(out.begin(), out.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    return out;
  }

  absl::StatusOr<std::string> GetBytes(const std::string& key) override {
    FP_ASSIGN_OR_RETURN(Response r, Send("GET", Full(key), "", "", {}));
    FP_RETURN_IF_ERROR(Fail(r, key));
    return std::move(r.body);
  }

  absl::Status GetFile(const std::string& key, const std::string& local_path) override {
    FP_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Create(local_path));
    std::unique_ptr<FILE, int (*)(FILE*)> sink(std::fopen(out.temp_path().c_str(), "wb"),
                                               &std::fclose);
    if (!sink) return ErrnoError(errno, absl::StrCat("cannot write ", out.temp_path()), "");
    FP_ASSIGN_OR_RETURN(Response r, Send("GET", Full(key), "", "", {}, sink.get()));
    FP_RETURN_IF_ERROR(Fail(r, key));
    if (std::fflush(sink.get()) != 0) {
      return ErrnoError(errno, absl::StrCat("cannot write ", out.temp_path()), "");
    }
    return out.Commit();
  }

  absl::StatusOr<std::string> GetRange(const std::string& key, int64_t offset,
                                       int64_t length) override {
    if (length <= 0 || offset < 0) return std::string();
    const std::string range = absl::StrCat("Range: bytes=", offset, "-", offset + length - 1);
    FP_ASSIGN_OR_RETURN(Response r, Send("GET", Full(key), "", "", {range}));
    if (r.status == 416) return std::string();  // InvalidRange: at or past the end
    FP_RETURN_IF_ERROR(Fail(r, key));
    if (r.status == 206) return std::move(r.body);
    // 200: a server that ignores ranges sends the whole object.
    if (offset >= static_cast<int64_t>(r.body.size())) return std::string();
    return r.body.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
  }

 private:
  std::string Full(const std::string& key) const { return url_.prefix + key; }

  static std::string PartQuery(int number, const std::string& upload_id) {
    return Query({{"partNumber", absl::StrCat(number)}, {"uploadId", upload_id}});
  }
  static void AppendPart(std::string* etags, int number, const std::string& etag) {
    absl::StrAppend(etags, "<Part><PartNumber>", number, "</PartNumber><ETag>", etag,
                    "</ETag></Part>");
  }

  // A multipart upload of `key`: creates it, lets `parts` send the parts (each appended to the
  // XML with AppendPart), completes it, and aborts it if anything failed. Parts of an upload
  // that is neither completed nor aborted stay in the bucket, invisible and billed.
  absl::Status Multipart(
      const std::string& key,
      const std::function<absl::Status(const std::string& upload_id, std::string* etags)>& parts) {
    FP_ASSIGN_OR_RETURN(Response init, Send("POST", Full(key), Query({{"uploads", ""}}), "", {}));
    FP_RETURN_IF_ERROR(Fail(init, key));
    const std::string upload_id = XmlValue(init.body, "UploadId");
    if (upload_id.empty()) {
      return absl::UnavailableError(absl::StrCat(Where(key), ": no UploadId in the answer"));
    }
    absl::Status status = [&]() -> absl::Status {
      std::string complete = "<CompleteMultipartUpload>";
      FP_RETURN_IF_ERROR(parts(upload_id, &complete));
      complete += "</CompleteMultipartUpload>";
      FP_ASSIGN_OR_RETURN(Response r,
                          Send("POST", Full(key), Query({{"uploadId", upload_id}}), complete, {}));
      return Fail(r, key);
    }();
    if (!status.ok()) {
      absl::StatusOr<Response> abort =
          Send("DELETE", Full(key), Query({{"uploadId", upload_id}}), "", {});
      if (!abort.ok() || (abort->status != 204 && abort->status != 200 && abort->status != 404)) {
        return absl::Status(status.code(),
                            absl::StrCat(status.message(),
                                         "; aborting the multipart upload failed too: remove it "
                                         "with a lifecycle rule or `aws s3api "
                                         "abort-multipart-upload`"));
      }
    }
    return status;
  }
  std::string Where(const std::string& key) const {
    return absl::StrCat(url_.scheme, "://", url_.bucket, "/", url_.prefix, key);
  }

  // OK for 2xx; otherwise the status for the HTTP status and S3's error code. The message names
  // the object and says what to check, never a credential.
  absl::Status Fail(const Response& r, const std::string& key) const {
    if (r.curl == CURLE_OK && r.status >= 200 && r.status < 300) return absl::OkStatus();
    const std::string where = Where(key);
    if (r.curl != CURLE_OK) {
      // libcurl's detailed text (CURLOPT_ERRORBUFFER) names hosts and ports; a job error reaches
      // every client, so only the error class goes out, and the details to the log.
      return absl::UnavailableError(absl::StrCat(
          where, ": ", curl_easy_strerror(r.curl),
          " (the storage endpoint did not answer; check AWS_ENDPOINT_URL and the network)"));
    }
    const std::string code = QuoteUserText(XmlValue(r.body, "Code"));
    const std::string what = absl::StrCat(where, ": HTTP ", r.status, " ", code);
    if (r.status == 403 || r.status == 401) {
      return absl::PermissionDeniedError(
          absl::StrCat(what,
                       ": access denied; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and "
                       "AWS_SESSION_TOKEN, AWS_REGION) and the bucket's permissions"));
    }
    if (r.status == 404) {
      if (absl::StrContains(code, "NoSuchBucket")) {
        return absl::NotFoundError(
            absl::StrCat(what, ": bucket '", url_.bucket, "' does not exist; create it first"));
      }
      return absl::NotFoundError(what);
    }
    if (r.status == 501) {
      return absl::UnimplementedError(
          absl::StrCat(what,
                       ": the storage service does not implement this request (large objects are "
                       "copied with UploadPartCopy)"));
    }
    if (r.status >= 500 || r.status == 429) {
      return absl::UnavailableError(absl::StrCat(what, " after ", options_.attempts,
                                                 " attempts; the storage service is failing or "
                                                 "throttling, try again later"));
    }
    return absl::InvalidArgumentError(what);
  }

  // One request with retries and backoff for transport errors, 5xx and throttling. `object` is
  // the full key ("" for the bucket), `query` canonical (Query()).
  absl::StatusOr<Response> Send(const std::string& method, const std::string& object,
                                const std::string& query, std::string_view body,
                                const std::vector<std::string>& headers, FILE* sink = nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!curl_) return absl::InternalError("cannot initialise libcurl");
    const std::string payload_hash = Sha256Hex(body);
    std::mt19937 jitter(std::random_device{}());
    Response r;
    for (int attempt = 0; attempt < std::max(1, options_.attempts); ++attempt) {
      if (attempt > 0) {
        const int base = std::min(5000, options_.backoff_ms << std::min(attempt - 1, 10));
        std::this_thread::sleep_for(std::chrono::milliseconds(
            base / 2 + static_cast<int>(jitter() % static_cast<unsigned>(base / 2 + 1))));
        if (sink != nullptr) {  // a retried download starts over
          std::rewind(sink);
          if (ftruncate(fileno(sink), 0) != 0) {
            return ErrnoError(errno, "cannot truncate a download for a retry", "");
          }
        }
      }
      r = Once(method, object, query, body, payload_hash, headers, sink);
      // CopyObject, UploadPartCopy and CompleteMultipartUpload may fail after answering 200:
      // the error is then the body. Only a GET's body is the user's data.
      if (method != "GET" && r.status == 200 && absl::StrContains(r.body, "<Error>")) {
        r.status = 500;
      }
      if (!Retryable(r)) break;
    }
    return r;
  }

  Response Once(const std::string& method, const std::string& object, const std::string& query,
                std::string_view body, const std::string& payload_hash,
                const std::vector<std::string>& headers, FILE* sink) {
    CURL* c = curl_.get();
    curl_easy_reset(c);
    Response r;
    std::string url = absl::StrCat(endpoint_, "/", url_.bucket);
    if (!object.empty()) absl::StrAppend(&url, "/", UriEncode(object, true));
    if (!query.empty()) absl::StrAppend(&url, "?", query);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    // A server that stops answering mid-transfer is an error within a minute, not a hang.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    const std::string sigv4 = absl::StrCat("aws:amz:", region_, ":s3");
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, key_id_.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, secret_.c_str());
    struct curl_slist* list = nullptr;
    // libcurl 7.88 does not send the payload hash S3 requires; it signs the one given here.
    const std::string hash_header = "x-amz-content-sha256: " + payload_hash;
    list = curl_slist_append(list, hash_header.c_str());
    std::string token_header;
    if (!token_.empty()) {
      token_header = "x-amz-security-token: " + token_;
      list = curl_slist_append(list, token_header.c_str());
    }
    // No "Expect:" header to turn 100-continue off: libcurl 7.88 signs it although it is not
    // sent, and a server that checks signed headers against the request refuses the signature
    // (@20minutes/s3rver does). libcurl's own "Expect: 100-continue" is not signed.
    for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    if (method == "PUT" || method == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      if (method == "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (method == "DELETE") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &ReadHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.etag);
    // Error answers go to the body string even for downloads (the status is known only after).
    std::string error_body;
    if (sink != nullptr) {
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteToFile);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    } else {
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteToString);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    }
    r.curl = curl_easy_perform(c);
    curl_slist_free_all(list);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (sink != nullptr && (r.status < 200 || r.status >= 300)) {
      // The error document went to the file; read it back for the message.
      std::fflush(sink);
      std::rewind(sink);
      char buffer[4096];
      const size_t n = std::fread(buffer, 1, sizeof buffer, sink);
      r.body.assign(buffer, n);
    }
    return r;
  }

  ObjectUrl url_;
  std::string endpoint_;
  std::string region_;
  std::string key_id_;
  std::string secret_;
  std::string token_;
  ObjectStoreOptions options_;
  std::mutex mu_;
  std::unique_ptr<CURL, void (*)(CURL*)> curl_;
};

}  // namespace

absl::StatusOr<int64_t> MultipartPartBytes(int64_t size, int64_t part_bytes) {
  if (size > kMaxObjectBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(size, " bytes is more than S3's largest object (5 TiB, ", kMaxObjectBytes,
                     " bytes); split it into smaller files (for a dataset: more --shards)"));
  }
  part_bytes = std::max<int64_t>(part_bytes, 1);
  if ((size + part_bytes - 1) / part_bytes <= kMaxParts) return part_bytes;
  constexpr int64_t kMiB = int64_t{1} << 20;
  const int64_t least = (size + kMaxParts - 1) / kMaxParts;
  return std::max(part_bytes, (least + kMiB - 1) / kMiB * kMiB);
}

absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> CopyPartRanges(int64_t size,
                                                                        int64_t part_bytes) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (size <= 0) return out;
  FP_ASSIGN_OR_RETURN(part_bytes, MultipartPartBytes(size, part_bytes));
  for (int64_t first = 0; first < size; first += part_bytes) {
    out.emplace_back(first, std::min(size, first + part_bytes) - 1);
  }
  return out;
}

namespace {

bool BucketChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool KeyChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

}  // namespace

absl::StatusOr<ObjectUrl> ParseObjectUrl(std::string_view text) {
  ObjectUrl url;
  const size_t colon = text.find("://");
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        "an object URL is s3://BUCKET[/PREFIX] or gs://BUCKET[/PREFIX]");
  }
  url.scheme = std::string(text.substr(0, colon));
  if (url.scheme != "s3" && url.scheme != "gs") {
    return absl::InvalidArgumentError(
        "an object URL is s3://BUCKET[/PREFIX] or gs://BUCKET[/PREFIX]");
  }
  const absl::string_view rest(text.data() + colon + 3, text.size() - colon - 3);
  const size_t slash = rest.find('/');
  url.bucket = std::string(rest.substr(0, slash));
  const std::string shown = QuoteUserText(std::string(text));
  if (url.bucket.size() < 3 || url.bucket.size() > 63 ||
      !std::all_of(url.bucket.begin(), url.bucket.end(), BucketChar)) {
    return absl::InvalidArgumentError(
        absl::StrCat(shown, ": a bucket name is 3 to 63 characters of a-z, 0-9, '.' and '-'"));
  }
  if (slash != absl::string_view::npos) {
    absl::string_view prefix = rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (!prefix.empty()) {
      for (absl::string_view segment : absl::StrSplit(prefix, '/')) {
        if (segment.empty() || segment == "." || segment == ".." ||
            !std::all_of(segment.begin(), segment.end(), KeyChar)) {
          return absl::InvalidArgumentError(
              absl::StrCat(shown,
                           ": the prefix must be '/'-separated names of A-Z a-z 0-9 - _ . without "
                           "empty, '.' or '..' parts"));
        }
      }
      url.prefix = absl::StrCat(prefix, "/");
    }
  }
  return url;
}

absl::StatusOr<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& text,
                                                         const ObjectStoreOptions& options) {
  FP_ASSIGN_OR_RETURN(ObjectUrl url, ParseObjectUrl(text));
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const std::string key_id = Env("AWS_ACCESS_KEY_ID"), secret = Env("AWS_SECRET_ACCESS_KEY");
  if (key_id.empty() || secret.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        url.scheme, "://", url.bucket, ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        url.scheme == "gs" ? " (a Cloud Storage HMAC key and its secret)" : "",
        " to write or read object storage"));
  }
  std::string region = Env("AWS_REGION");
  if (region.empty()) region = Env("AWS_DEFAULT_REGION");
  if (region.empty()) region = url.scheme == "gs" ? "auto" : "us-east-1";
  std::string endpoint = Env("AWS_ENDPOINT_URL");
  if (endpoint.empty()) {
    endpoint = url.scheme == "gs" ? "https://storage.googleapis.com"
                                  : absl::StrCat("https://s3.", region, ".amazonaws.com");
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (!absl::StartsWith(endpoint, "http://") && !absl::StartsWith(endpoint, "https://")) {
    return absl::InvalidArgumentError(
        "AWS_ENDPOINT_URL must start with http:// or https:// (e.g. http://127.0.0.1:9000)");
  }
  // Tuning from the environment (tests shrink parts and backoff; fast links may want larger
  // parts). A value that does not parse is refused rather than ignored.
  ObjectStoreOptions tuned = options;
  auto tune = [](const char* name, int64_t max, int64_t* field) -> absl::Status {
    const std::string value = Env(name);
    if (value.empty()) return absl::OkStatus();
    if (!absl::SimpleAtoi(value, field) || *field < 0 || *field > max) {
      return absl::InvalidArgumentError(absl::StrCat(name, " must be an integer in 0..", max));
    }
    return absl::OkStatus();
  };
  int64_t backoff = tuned.backoff_ms;
  FP_RETURN_IF_ERROR(tune("FRAMEPAIR_S3_PART_BYTES", int64_t{5} << 30, &tuned.part_bytes));
  FP_RETURN_IF_ERROR(tune("FRAMEPAIR_S3_BACKOFF_MS", 60000, &backoff));
  tuned.backoff_ms = static_cast<int>(backoff);
  if (tuned.part_bytes < 1 || tuned.attempts < 1 || tuned.backoff_ms < 0 ||
      tuned.max_single_copy < 0 || tuned.copy_part_bytes < 1) {
    return absl::InvalidArgumentError("invalid object store options");
  }
  return std::unique_ptr<ObjectStore>(std::make_unique<S3Store>(std::move(url), std::move(endpoint),
                                                                std::move(region), key_id, secret,
                                                                Env("AWS_SESSION_TOKEN"), tuned));
}

}  // namespace framepair
