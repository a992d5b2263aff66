// Tests of the shared server runner with real servers on 127.0.0.1 (port 0) in process.
#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "services/common/channel.h"
#include "services/common/grpc_status.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/common/metrics_http.h"
#include "services/common/server_interceptors.h"
#include "services/common/server_main.h"
#include "services/common/server_options.h"
#include "services/common/server_runner.h"
#include "services/common/signals.h"
#include "services/common/token_auth.h"
#include "testdata/health.grpc.pb.h"
#include "testdata/test_service.grpc.pb.h"

namespace framepair {
namespace {

using ::framepair::testing::EchoRequest;
using ::framepair::testing::EchoResponse;
using ::framepair::testing::TestService;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr char kEchoMethod[] = "/framepair.testing.TestService/Echo";

// --- Test service (callback API, as the real services use) ---

// Finishes only when the call is cancelled (client gone, or the drain deadline passed).
class WaitForCancelReactor final : public grpc::ServerUnaryReactor {
 public:
  void OnCancel() override { Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }
  void OnDone() override { delete this; }
};

class TestServiceImpl final : public TestService::CallbackService {
 public:
  ~TestServiceImpl() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread& t : threads_) t.join();
  }

  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const EchoRequest* request,
                                 EchoResponse* response) override {
    response->set_payload(request->payload());
    response->set_saw_authorization(context->client_metadata().count("authorization") > 0);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++started_;
    }
    started_cv_.notify_all();
    if (request->wait_for_cancel()) return new WaitForCancelReactor();
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (request->delay_ms() <= 0) {
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    // Never block a reaction: the delay runs on a thread of our own.
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back([reactor, delay = request->delay_ms()] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  int started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  // Waits until `n` calls have reached the handler.
  bool WaitStarted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return started_cv_.wait_for(lock, 5s, [&] { return started_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable started_cv_;
  int started_ = 0;
  std::vector<std::thread> threads_;
};

// --- Helpers ---

ServerOptions LocalOptions() {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.drain_grace_seconds = 2;
  options.log_level = "warn";
  return options;
}

std::unique_ptr<ServerRunner> StartServer(const ServerOptions& options, TestServiceImpl* service,
                                          std::function<void()> on_drain = nullptr) {
  absl::StatusOr<std::unique_ptr<ServerRunner>> runner =
      ServerRunner::Start(options, {service}, std::move(on_drain));
  EXPECT_TRUE(runner.ok()) << runner.status();
  return runner.ok() ? std::move(*runner) : nullptr;
}

std::string Target(const ServerRunner& runner) {
  return "127.0.0.1:" + std::to_string(runner.port());
}

std::shared_ptr<grpc::Channel> RawChannel(const ServerRunner& runner) {
  return grpc::CreateChannel(Target(runner), grpc::InsecureChannelCredentials());
}

std::shared_ptr<grpc::Channel> Channel(const std::string& target, const ChannelOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(target, options);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

struct EchoResult {
  grpc::Status status;
  EchoResponse response;
};

EchoResult CallEcho(const std::shared_ptr<grpc::Channel>& channel, EchoRequest request,
                    std::string_view token = {}) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  if (!token.empty()) AttachToken(&context, token);
  EchoResult result;
  result.status = TestService::NewStub(channel)->Echo(&context, request, &result.response);
  return result;
}

EchoResult CallEcho(const std::shared_ptr<grpc::Channel>& channel, std::string payload = "hi") {
  EchoRequest request;
  request.set_payload(std::move(payload));
  return CallEcho(channel, request);
}

struct HealthResult {
  grpc::Status status;
  HealthCheckResponse::ServingStatus serving = HealthCheckResponse::UNKNOWN;
};

HealthResult CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& service) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 2s);
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  HealthResult result;
  result.status = Health::NewStub(channel)->Check(&context, request, &response);
  result.serving = response.status();
  return result;
}

// Checks `service` until it reports NOT_SERVING (a drain began), for at most about 250 ms;
// returns the last answer.
HealthResult WaitUntilNotServing(const std::shared_ptr<grpc::Channel>& channel,
                                 const std::string& service) {
  HealthResult result;
  for (int i = 0; i < 50; ++i) {
    result = CheckHealth(channel, service);
    if (result.serving == HealthCheckResponse::NOT_SERVING) break;
    std::this_thread::sleep_for(5ms);
  }
  return result;
}

// A fresh directory under the test temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "fp_common_test_XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name, const std::string& contents = "") const {
    std::string path = path_ + "/" + name;
    if (!contents.empty()) std::ofstream(path) << contents;
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Self-signed certificate for "localhost" and 127.0.0.1, made with the openssl CLI. It
// doubles as its own CA, so it can verify both ends in the mutual TLS test.
struct TestCert {
  std::string cert_file;
  std::string key_file;
};
TestCert MakeSelfSignedCert(const TempDir& dir, const std::string& name) {
  TestCert cert{dir.File(name + ".crt"), dir.File(name + ".key")};
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
      cert.key_file + " -out " + cert.cert_file + " 2>/dev/null";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return cert;
}

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
};

// A plain HTTP/1.1 GET over a real socket.
HttpResult HttpGet(int port, const std::string& target) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  HttpResult result;
  result.status = static_cast<int>(response.result_int());
  result.content_type = std::string(response[http::field::content_type]);
  result.body = response.body();
  return result;
}

// --- Status conversion ---

TEST(GrpcStatusTest, RoundTripKeepsCodeAndMessage) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status status(static_cast<absl::StatusCode>(code), "clip.mp4: no video stream");
    grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
    EXPECT_EQ(converted.error_message(), "clip.mp4: no video stream");
    EXPECT_EQ(FromGrpcStatus(converted), status);
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")),
            absl::UnavailableError("down"));
}

// --- Metrics ---

TEST(MetricsTest, RendersHelpTypeAndEscapes) {
  MetricsRegistry registry;
  Counter& counter = registry.AddCounter(
      "test_tasks_total", "Tasks.\nSecond line with \\ backslash.", {"kind", "outcome"});
  counter.Increment({"a\"b\\c\n", "ok"}, 2);
  counter.Increment({"dedup", "ok"});
  registry.AddGauge("test_jobs", "Jobs running.").Set(3);
  EXPECT_EQ(registry.RenderPrometheusText(),
            "# HELP test_jobs Jobs running.\n"
            "# TYPE test_jobs gauge\n"
            "test_jobs 3\n"
            "# HELP test_tasks_total Tasks.\\nSecond line with \\\\ backslash.\n"
            "# TYPE test_tasks_total counter\n"
            "test_tasks_total{kind=\"a\\\"b\\\\c\\n\",outcome=\"ok\"} 2\n"
            "test_tasks_total{kind=\"dedup\",outcome=\"ok\"} 1\n");
  EXPECT_EQ(counter.Value({"dedup", "ok"}), 1);
  EXPECT_EQ(counter.Value({"never", "seen"}), 0);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  Histogram& histogram =
      registry.AddHistogram("test_latency_seconds", "Latency.", {"method"}, {0.5, 1, 2.5});
  for (double v : {0.1, 0.5, 0.7, 1.0, 2.0, 30.0}) histogram.Observe({"m"}, v);
  EXPECT_EQ(registry.RenderPrometheusText(),
            "# HELP test_latency_seconds Latency.\n"
            "# TYPE test_latency_seconds histogram\n"
            "test_latency_seconds_bucket{method=\"m\",le=\"0.5\"} 2\n"
            "test_latency_seconds_bucket{method=\"m\",le=\"1\"} 4\n"
            "test_latency_seconds_bucket{method=\"m\",le=\"2.5\"} 5\n"
            "test_latency_seconds_bucket{method=\"m\",le=\"+Inf\"} 6\n"
            "test_latency_seconds_sum{method=\"m\"} 34.3\n"
            "test_latency_seconds_count{method=\"m\"} 6\n");
  EXPECT_EQ(histogram.Count({"m"}), 6u);
}

TEST(MetricsTest, CallbackGaugeIsReadAtScrapeAndUnregisters) {
  MetricsRegistry registry;
  std::atomic<int> depth = 4;
  {
    CallbackGaugeHandle handle =
        registry.AddCallbackGauge("test_queue_depth", "Queued.", [&] { return depth.load(); });
    EXPECT_THAT(registry.RenderPrometheusText(), HasSubstr("test_queue_depth 4\n"));
    depth = 7;
    EXPECT_THAT(registry.RenderPrometheusText(), HasSubstr("test_queue_depth 7\n"));
  }
  EXPECT_EQ(registry.RenderPrometheusText(), "");
}

TEST(MetricsTest, RegistrationIsIdempotentAndValuesFormatExactly) {
  MetricsRegistry registry;
  Counter& a = registry.AddCounter("test_total", "x", {"k"});
  Counter& b = registry.AddCounter("test_total", "x", {"k"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(FormatPrometheusValue(1234567), "1234567");
  EXPECT_EQ(FormatPrometheusValue(0.005), "0.005");
  EXPECT_EQ(FormatPrometheusValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatPrometheusValue(std::nan("")), "NaN");
}

TEST(MetricsDeathTest, MisuseAbortsWithTheMetricName) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry registry;
  Counter& counter = registry.AddCounter("test_total", "x", {"k"});
  EXPECT_DEATH(counter.Increment({"a", "b"}), "test_total: got 2 label values");
  EXPECT_DEATH(registry.AddGauge("test_total", "x", {"k"}), "test_total: registered twice");
  EXPECT_DEATH(registry.AddCounter("bad-name", "x"), "invalid metric name");
}

TEST(MetricsHttpTest, ServesMetricsAnd404) {
  MetricsRegistry registry;
  registry.AddCounter("test_scrapes_total", "Help.").Increment();
  MetricsHttpServer server(&registry);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_GT(server.port(), 0);
  HttpResult ok = HttpGet(server.port(), "/metrics");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(ok.body, HasSubstr("test_scrapes_total 1\n"));
  EXPECT_EQ(HttpGet(server.port(), "/").status, 404);

  MetricsHttpServer busy(&registry);
  absl::Status status = busy.Start("127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(MetricsHttpServer(&registry).Start("localhost").code(),
            absl::StatusCode::kInvalidArgument);
  server.Stop();
  server.Stop();  // idempotent
}

TEST(MetricsHttpTest, CapsConnectionsAndClosesIdleOnes) {
  namespace asio = boost::asio;
  MetricsRegistry registry;
  MetricsHttpOptions options;
  options.max_connections = 2;
  options.io_timeout = std::chrono::milliseconds(500);
  MetricsHttpServer server(&registry, options);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  asio::io_context io;
  const asio::ip::tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"),
                                         static_cast<unsigned short>(server.port())};
  // Two idle connections take both slots.
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> idle;
  for (int i = 0; i < 2; ++i) {
    idle.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    idle.back()->connect(endpoint);
  }
  for (int i = 0; i < 100 && server.connections() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.connections(), 2);
  // A third is closed unanswered, at once.
  asio::ip::tcp::socket third(io);
  third.connect(endpoint);
  const auto start = std::chrono::steady_clock::now();
  char byte;
  boost::system::error_code ec;
  third.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  // The idle ones are closed after the timeout, and scrapes work again.
  for (auto& socket : idle) {
    socket->read_some(asio::buffer(&byte, 1), ec);
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  }
  for (int i = 0; i < 100 && server.connections() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.connections(), 0);
  EXPECT_EQ(HttpGet(server.port(), "/metrics").status, 200);
}

// --- Logging ---

TEST(LoggingTest, JsonLinesEscapeAnyMessage) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  sink->set_formatter(MakeJsonLogFormatter());
  spdlog::logger logger("dedup \"svc\"", sink);
  const std::string message = "file \"a\\b.mp4\"\nline2\ttab \x01 caf\xc3\xa9 bad\xff end";
  logger.info("{}", message);

  const std::string line = out.str();
  ASSERT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << line;
  const auto& fields = parsed.fields();
  EXPECT_EQ(fields.at("msg").string_value(),
            "file \"a\\b.mp4\"\nline2\ttab \x01 caf\xc3\xa9 bad\xef\xbf\xbd end");
  EXPECT_EQ(fields.at("logger").string_value(), "dedup \"svc\"");
  EXPECT_EQ(fields.at("level").string_value(), "info");
  EXPECT_TRUE(std::regex_match(fields.at("ts").string_value(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << fields.at("ts").string_value();
}

TEST(LoggingTest, RejectsUnknownFormatAndLevel) {
  EXPECT_EQ(InitLogging("xml", "info", "t").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InitLogging("text", "loud", "t").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(InitLogging("text", "warn", "common_test").ok());
}

// --- Options and flags ---

TEST(ServerOptionsTest, ValidationNamesTheFlag) {
  auto error = [](auto mutate) {
    ServerOptions options;
    mutate(options);
    return std::string(ValidateServerOptions(options).message());
  };
  EXPECT_TRUE(ValidateServerOptions(ServerOptions()).ok());
  EXPECT_THAT(error([](ServerOptions& o) { o.tls_cert_file = "c.pem"; }),
              HasSubstr("--tls-key: --tls-cert and --tls-key go together"));
  EXPECT_THAT(error([](ServerOptions& o) { o.tls_client_ca_file = "ca.pem"; }),
              HasSubstr("--tls-client-ca"));
  EXPECT_THAT(error([](ServerOptions& o) { o.log_format = "xml"; }),
              HasSubstr("--log-format: got 'xml'; use text or json"));
  EXPECT_THAT(error([](ServerOptions& o) { o.log_level = "loud"; }), HasSubstr("--log-level"));
  EXPECT_THAT(error([](ServerOptions& o) { o.listen = "localhost"; }),
              HasSubstr("--listen: 'localhost' is not HOST:PORT (missing :PORT)"));
  EXPECT_THAT(error([](ServerOptions& o) { o.listen = "1.2.3.4:99999"; }),
              HasSubstr("port must be a number"));
  EXPECT_THAT(error([](ServerOptions& o) { o.listen = "::1:80"; }), HasSubstr("brackets"));
  EXPECT_THAT(error([](ServerOptions& o) { o.metrics_listen = ":9090"; }),
              HasSubstr("--metrics-listen"));
  EXPECT_THAT(error([](ServerOptions& o) { o.health_listen = o.listen; }),
              HasSubstr("--health-listen: must differ from --listen"));
  EXPECT_THAT(error([](ServerOptions& o) { o.max_receive_message_bytes = 0; }),
              HasSubstr("--max-message-bytes"));
  EXPECT_THAT(error([](ServerOptions& o) { o.drain_grace_seconds = -1; }),
              HasSubstr("--drain-grace-seconds"));

  absl::StatusOr<HostPort> v6 = ParseHostPort("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(FormatHostPort(v6->host, 80), "[::1]:80");
}

TEST(ServerOptionsTest, FlagsFillTheOptions) {
  namespace po = boost::program_options;
  ServerOptions options;
  po::options_description flags;
  AddServerFlags(flags, &options);
  const char* argv[] = {"x",
                        "--listen=0.0.0.0:7000",
                        "--storage-root=/data",
                        "--tls-cert=c",
                        "--tls-key=k",
                        "--tls-client-ca=ca",
                        "--auth-token-file=t",
                        "--metrics-listen=0.0.0.0:9090",
                        "--health-listen=0.0.0.0:8081",
                        "--log-format=json",
                        "--log-level=debug",
                        "--max-message-bytes=1000",
                        "--max-concurrent-streams=8",
                        "--max-connection-age-ms=60000",
                        "--memory-quota-bytes=2000000",
                        "--drain-grace-seconds=2.5",
                        "--not-serving-delay-ms=5000"};
  po::variables_map vm;
  po::store(po::parse_command_line(static_cast<int>(std::size(argv)), argv, flags), vm);
  po::notify(vm);
  EXPECT_EQ(options.listen, "0.0.0.0:7000");
  EXPECT_EQ(options.storage_root, "/data");
  EXPECT_EQ(options.tls_client_ca_file, "ca");
  EXPECT_EQ(options.auth_token_file, "t");
  EXPECT_EQ(options.metrics_listen, "0.0.0.0:9090");
  EXPECT_EQ(options.health_listen, "0.0.0.0:8081");
  EXPECT_EQ(options.log_format, "json");
  EXPECT_EQ(options.max_receive_message_bytes, 1000);
  EXPECT_EQ(options.max_send_message_bytes, 1000);
  EXPECT_EQ(options.max_concurrent_streams, 8);
  EXPECT_EQ(options.max_connection_age_ms, 60000);
  EXPECT_EQ(options.memory_quota_bytes, 2000000);
  EXPECT_EQ(options.drain_grace_seconds, 2.5);
  EXPECT_EQ(options.not_serving_delay_ms, 5000);
  EXPECT_TRUE(ValidateServerOptions(options).ok());
}

// Collects what the default logger writes while it lives (warn and above).
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_level(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

// --- ServerRunner ---

TEST(ServerRunnerTest, HealthIsServingThenNotServingWhileDraining) {
  TestServiceImpl service;
  ServerOptions options = LocalOptions();
  options.not_serving_delay_ms = 300;  // window in which health is observable as NOT_SERVING
  std::atomic<bool> hook_ran = false;
  auto runner = StartServer(options, &service, [&] { hook_ran = true; });
  ASSERT_NE(runner, nullptr);
  EXPECT_GT(runner->port(), 0);
  EXPECT_EQ(runner->service_names(), std::vector<std::string>{"framepair.testing.TestService"});

  auto channel = RawChannel(*runner);
  HealthResult overall = CheckHealth(channel, "");
  EXPECT_TRUE(overall.status.ok()) << overall.status.error_message();
  EXPECT_EQ(overall.serving, HealthCheckResponse::SERVING);
  EXPECT_EQ(CheckHealth(channel, "framepair.testing.TestService").serving,
            HealthCheckResponse::SERVING);
  EXPECT_EQ(CheckHealth(channel, "no.such.Service").status.error_code(),
            grpc::StatusCode::NOT_FOUND);

  runner->BeginDrain();
  HealthResult draining = WaitUntilNotServing(channel, "framepair.testing.TestService");
  EXPECT_TRUE(draining.status.ok()) << draining.status.error_message();
  EXPECT_EQ(draining.serving, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckHealth(channel, "").serving, HealthCheckResponse::NOT_SERVING);
  EXPECT_TRUE(CallEcho(channel).status.ok()) << "still accepting during not_serving_delay_ms";
  EXPECT_TRUE(hook_ran);
  runner->Wait();
  EXPECT_EQ(CallEcho(channel).status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ServerRunnerTest, InFlightRpcCompletesDuringDrainGrace) {
  TestServiceImpl service;
  auto runner = StartServer(LocalOptions(), &service);
  ASSERT_NE(runner, nullptr);
  auto channel = RawChannel(*runner);

  EchoRequest slow;
  slow.set_payload("slow");
  slow.set_delay_ms(300);
  auto in_flight = std::async(std::launch::async, [&] { return CallEcho(channel, slow); });
  ASSERT_TRUE(service.WaitStarted(1));

  const auto drain_start = std::chrono::steady_clock::now();
  runner->BeginDrain();
  EchoResult result = in_flight.get();
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.response.payload(), "slow");
  runner->Wait();
  EXPECT_LT(std::chrono::steady_clock::now() - drain_start, 1500ms)
      << "the drain should end when the last RPC does, not at the grace deadline";
  EXPECT_EQ(CallEcho(channel).status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ServerRunnerTest, RpcsOutlivingTheGraceAreCancelled) {
  TestServiceImpl service;
  ServerOptions options = LocalOptions();
  options.drain_grace_seconds = 0.2;
  auto runner = StartServer(options, &service);
  ASSERT_NE(runner, nullptr);
  auto channel = RawChannel(*runner);

  Counter& handled = DefaultMetricsRegistry().AddCounter("framepair_grpc_server_handled_total", "",
                                                         {"method", "code"});
  const double cancelled_before = handled.Value({kEchoMethod, "CANCELLED"});

  EchoRequest stuck;
  stuck.set_wait_for_cancel(true);
  auto in_flight = std::async(std::launch::async, [&] { return CallEcho(channel, stuck); });
  ASSERT_TRUE(service.WaitStarted(1));
  const auto drain_start = std::chrono::steady_clock::now();
  runner->BeginDrain();
  runner->Wait();
  EXPECT_LT(std::chrono::steady_clock::now() - drain_start, 2s);
  // The client sees UNAVAILABLE (retryable on another replica); the server counts CANCELLED.
  EXPECT_EQ(in_flight.get().status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(handled.Value({kEchoMethod, "CANCELLED"}), cancelled_before + 1);
}

TEST(ServerRunnerTest, OversizedMessageIsResourceExhausted) {
  TestServiceImpl service;
  ServerOptions options = LocalOptions();
  options.max_receive_message_bytes = 1024;
  auto runner = StartServer(options, &service);
  ASSERT_NE(runner, nullptr);
  auto channel = RawChannel(*runner);
  EXPECT_TRUE(CallEcho(channel, std::string(512, 'x')).status.ok());
  EXPECT_EQ(CallEcho(channel, std::string(4096, 'x')).status.error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(ServerRunnerTest, BusyPortIsAnError) {
  TestServiceImpl service;
  auto first = StartServer(LocalOptions(), &service);
  ASSERT_NE(first, nullptr);
  ServerOptions options = LocalOptions();
  options.listen = Target(*first);
  TestServiceImpl other;
  absl::StatusOr<std::unique_ptr<ServerRunner>> second = ServerRunner::Start(options, {&other});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST(ServerRunnerTest, TokenAuthGuardsEverythingButHealth) {
  TempDir dir;
  TestServiceImpl service;
  ServerOptions options = LocalOptions();
  options.auth_token_file = dir.File("token", "s3cret\n");
  auto runner = StartServer(options, &service);
  ASSERT_NE(runner, nullptr);
  auto raw = RawChannel(*runner);
  Counter& handled = DefaultMetricsRegistry().AddCounter("framepair_grpc_server_handled_total", "",
                                                         {"method", "code"});
  const double rejected_before = handled.Value({kEchoMethod, "UNAUTHENTICATED"});

  EchoRequest request;
  request.set_payload("p");
  EchoResult missing = CallEcho(raw, request);
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.status.error_message(), HasSubstr("authorization: Bearer"));
  EXPECT_EQ(CallEcho(raw, request, "wrong").status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(service.started(), 0) << "rejected calls must not reach the handler";
  EXPECT_EQ(handled.Value({kEchoMethod, "UNAUTHENTICATED"}), rejected_before + 2);

  EchoResult right = CallEcho(raw, request, "s3cret");
  EXPECT_TRUE(right.status.ok()) << right.status.error_message();
  EXPECT_FALSE(right.response.saw_authorization()) << "the token is consumed by auth";

  ChannelOptions with_token;
  with_token.auth_token = "s3cret";  // plaintext: attached by MakeChannel's interceptor
  EXPECT_TRUE(CallEcho(Channel(Target(*runner), with_token)).status.ok());

  HealthResult health = CheckHealth(raw, "");
  EXPECT_TRUE(health.status.ok()) << health.status.error_message();
  EXPECT_EQ(health.serving, HealthCheckResponse::SERVING);
}

TEST(TokenFileTest, NamedTokensAndTheSingleTokenForm) {
  absl::StatusOr<std::vector<TokenIdentity>> ids =
      ParseTokenFile("# who\n\nalice  tok-a\nops tok-o admin\n");
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_EQ(ids->size(), 2u);
  EXPECT_EQ((*ids)[0].name, "alice");
  EXPECT_EQ((*ids)[0].token, "tok-a");
  EXPECT_FALSE((*ids)[0].admin);
  EXPECT_TRUE((*ids)[1].admin);
  ids = ParseTokenFile("  s3cret\n");  // the format before names: one shared admin token
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ((*ids)[0].name, "shared");
  EXPECT_TRUE((*ids)[0].admin);
  for (const char* bad : {"", "# only a comment\n", "a t1\nb t1\n", "a t1\na t2\n", "a t1 root\n",
                          "bad/name t1\n", "lonely\nbob t2\n"}) {
    absl::StatusOr<std::vector<TokenIdentity>> r = ParseTokenFile(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    // Messages name the entry, never a token.
    EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("t1"))) << bad;
  }
}

// Each class is what the scheduler retries and what the CLI's exit code says; before the one
// classifier, UNAUTHENTICATED and UNIMPLEMENTED meant different things to the two.
TEST(ErrorClassTest, OneClassificationForRetriesAndExitCodes) {
  EXPECT_EQ(ClassifyError(absl::StatusCode::kUnauthenticated), ErrorClass::kDenied);
  EXPECT_EQ(ClassifyError(absl::StatusCode::kPermissionDenied), ErrorClass::kDenied);
  EXPECT_EQ(ClassifyError(absl::StatusCode::kUnimplemented), ErrorClass::kIncompatible);
  EXPECT_EQ(ClassifyError(absl::StatusCode::kDataLoss), ErrorClass::kBadInput);
  EXPECT_EQ(ClassifyError(absl::StatusCode::kResourceExhausted), ErrorClass::kBusy);
  for (auto code : {absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded,
                    absl::StatusCode::kInternal, absl::StatusCode::kResourceExhausted,
                    absl::StatusCode::kAborted, absl::StatusCode::kUnknown}) {
    EXPECT_TRUE(IsRetryable(code)) << absl::StatusCodeToString(code);
  }
  for (auto code : {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
                    absl::StatusCode::kUnauthenticated, absl::StatusCode::kPermissionDenied,
                    absl::StatusCode::kUnimplemented, absl::StatusCode::kAlreadyExists}) {
    EXPECT_FALSE(IsRetryable(code)) << absl::StatusCodeToString(code);
  }
}

// A token over plaintext on an address others can reach travels in clear: refused unless the
// operator allows it. (Before, such a server started silently.)
TEST(ServerRunnerTest, TokenOverPlaintextBeyondLoopbackNeedsAllowInsecure) {
  TempDir dir;
  TestServiceImpl service;
  ServerOptions options = LocalOptions();
  options.listen = "0.0.0.0:0";
  options.auth_token_file = dir.File("token", "s3cret\n");
  absl::StatusOr<std::unique_ptr<ServerRunner>> refused = ServerRunner::Start(options, {&service});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--allow-insecure"));
  options.allow_insecure = true;
  {
    // Allowed, but said at start, and the token itself never appears in the log.
    LogCapture log;
    absl::StatusOr<std::unique_ptr<ServerRunner>> allowed =
        ServerRunner::Start(options, {&service});
    EXPECT_TRUE(allowed.ok()) << allowed.status();
    EXPECT_THAT(log.text(), HasSubstr("beyond loopback without TLS: calls travel in clear"));
    EXPECT_THAT(log.text(), Not(HasSubstr("s3cret")));
  }
  {
    LogCapture log;
    options.auth_token_file.clear();
    absl::StatusOr<std::unique_ptr<ServerRunner>> open = ServerRunner::Start(options, {&service});
    EXPECT_TRUE(open.ok()) << open.status();
    EXPECT_THAT(log.text(), HasSubstr("without --auth-token-file: anyone who reaches the port"));
  }
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.7"));
}

TEST(ServerRunnerTest, TlsWithTokenThroughMakeChannel) {
  TempDir dir;
  TestCert cert = MakeSelfSignedCert(dir, "server");
  TestServiceImpl service;
  ServerOptions options = LocalOptions();
  options.tls_cert_file = cert.cert_file;
  options.tls_key_file = cert.key_file;
  options.auth_token_file = dir.File("token", "tok");
  auto runner = StartServer(options, &service);
  ASSERT_NE(runner, nullptr);

  ChannelOptions tls;
  tls.tls_ca_file = cert.cert_file;
  tls.auth_token = "tok";  // call credentials on TLS channels
  EchoResult result = CallEcho(Channel(Target(*runner), tls));
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_FALSE(result.response.saw_authorization());

  tls.auth_token.clear();
  EXPECT_EQ(CallEcho(Channel(Target(*runner), tls)).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CallEcho(RawChannel(*runner)).status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "plaintext clients cannot talk to a TLS server";
}

// LocalOptions serving mutual TLS with `cert`, which is also the client CA.
ServerOptions MutualTlsOptions(const TestCert& cert) {
  ServerOptions options = LocalOptions();
  options.tls_cert_file = cert.cert_file;
  options.tls_key_file = cert.key_file;
  options.tls_client_ca_file = cert.cert_file;
  return options;
}

TEST(ServerRunnerTest, MutualTlsRequiresClientCertificate) {
  TempDir dir;
  TestCert cert = MakeSelfSignedCert(dir, "both");
  TestServiceImpl service;
  auto runner = StartServer(MutualTlsOptions(cert), &service);
  ASSERT_NE(runner, nullptr);

  ChannelOptions tls;
  tls.tls_ca_file = cert.cert_file;
  tls.tls_server_name = "localhost";
  EXPECT_EQ(CallEcho(Channel(Target(*runner), tls)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
  tls.tls_cert_file = cert.cert_file;
  tls.tls_key_file = cert.key_file;
  EchoResult result = CallEcho(Channel(Target(*runner), tls));
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
}

// A TLS-only server (mutual TLS and a token, as the deploy/k8s workers run) still answers
// plaintext health probes on --health-listen, with the statuses of the same server, and
// nothing else crosses that port: not the API, not even with the right token.
TEST(ServerRunnerTest, HealthPortAnswersHealthChecksOnlyInPlaintext) {
  TempDir dir;
  TestCert cert = MakeSelfSignedCert(dir, "both");
  TestServiceImpl service;
  ServerOptions options = MutualTlsOptions(cert);
  options.auth_token_file = dir.File("token", "s3cret\n");
  options.health_listen = "127.0.0.1:0";
  options.not_serving_delay_ms = 300;
  auto runner = StartServer(options, &service);
  ASSERT_NE(runner, nullptr);
  ASSERT_GT(runner->health_port(), 0);
  ASSERT_NE(runner->health_port(), runner->port());
  auto health = grpc::CreateChannel("127.0.0.1:" + std::to_string(runner->health_port()),
                                    grpc::InsecureChannelCredentials());

  HealthResult overall = CheckHealth(health, "");
  EXPECT_TRUE(overall.status.ok()) << overall.status.error_message();
  EXPECT_EQ(overall.serving, HealthCheckResponse::SERVING);
  EXPECT_EQ(CheckHealth(health, "framepair.testing.TestService").serving,
            HealthCheckResponse::SERVING);

  EchoRequest request;
  request.set_payload("p");
  EchoResult echo = CallEcho(health, request, "s3cret");
  EXPECT_EQ(echo.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(echo.status.error_message(), HasSubstr("health checks only"));
  EXPECT_EQ(service.started(), 0) << "a refused call must not reach the handler";
  EXPECT_EQ(CheckHealth(RawChannel(*runner), "").status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "the API port itself stays TLS-only";

  // Readiness on the health port follows the drain of the server behind it.
  runner->BeginDrain();
  EXPECT_EQ(WaitUntilNotServing(health, "framepair.testing.TestService").serving,
            HealthCheckResponse::NOT_SERVING);
  runner->Wait();
}

TEST(ServerRunnerTest, MetricsEndpointCountsRpcs) {
  TestServiceImpl service;
  ServerOptions options = LocalOptions();
  options.metrics_listen = "127.0.0.1:0";
  auto runner = StartServer(options, &service);
  ASSERT_NE(runner, nullptr);
  ASSERT_GT(runner->metrics_port(), 0);
  // The round-robin service config must be accepted for dns:/// targets.
  auto channel = Channel("dns:///127.0.0.1:" + std::to_string(runner->port()), {});
  ASSERT_TRUE(CallEcho(channel).status.ok());

  HttpResult scrape = HttpGet(runner->metrics_port(), "/metrics");
  EXPECT_EQ(scrape.status, 200);
  EXPECT_EQ(scrape.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(std::regex_search(
      scrape.body,
      std::regex("\nframepair_grpc_server_handled_total\\{method=\"/framepair\\.testing\\."
                 "TestService/Echo\",code=\"OK\"\\} [1-9][0-9]*\n")))
      << scrape.body;
  EXPECT_THAT(scrape.body, HasSubstr("# TYPE framepair_grpc_server_handling_seconds histogram"));
  EXPECT_THAT(scrape.body, HasSubstr("framepair_grpc_server_handling_seconds_bucket{method=\"" +
                                     std::string(kEchoMethod) + "\",le=\"+Inf\"}"));
  EXPECT_EQ(HttpGet(runner->metrics_port(), "/other").status, 404);
}

TEST(ServerRunnerTest, MadeUpMethodsAreCountedAsUnknown) {
  EXPECT_EQ(MethodLabel(kEchoMethod), kEchoMethod);
  EXPECT_EQ(MethodLabel("/grpc.health.v1.Health/Check"), "/grpc.health.v1.Health/Check");
  EXPECT_EQ(MethodLabel("/framepair.testing.TestService/Nope"), "unknown");
  EXPECT_EQ(MethodLabel("/framepair.testing.TestService/Echo/x"), "unknown");
  EXPECT_EQ(MethodLabel("garbage"), "unknown");

  TestServiceImpl service;
  auto runner = StartServer(LocalOptions(), &service);
  ASSERT_NE(runner, nullptr);
  Counter& handled = DefaultMetricsRegistry().AddCounter("framepair_grpc_server_handled_total", "",
                                                         {"method", "code"});
  const double before = handled.Value({"unknown", "UNIMPLEMENTED"});

  grpc::GenericStub stub(RawChannel(*runner));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  grpc::Slice slice(std::string("x"));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/made.up.Service/Method", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) { done.set_value(status); });
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(handled.Value({"unknown", "UNIMPLEMENTED"}), before + 1);
}

// --- Signals and ServerMain ---

TEST(SignalsTest, WaitReturnsTheBlockedSignal) {
  // On a thread of its own, so the test runner's signal mask stays untouched.
  std::thread([] {
    BlockTerminationSignals();
    EXPECT_EQ(WaitForTerminationSignalFor(10ms), std::nullopt);
    pthread_kill(pthread_self(), SIGTERM);
    EXPECT_EQ(WaitForTerminationSignal(), SIGTERM);
  }).join();
}

int RunMain(std::vector<std::string> args, const ServiceFactory& factory) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  return ServerMain(static_cast<int>(argv.size()), argv.data(), "fp-test",
                    "Serves the test service.", factory);
}

ServiceFactory TestFactory(std::string* extra_flag) {
  ServiceFactory factory;
  factory.add_flags = [extra_flag](boost::program_options::options_description& flags) {
    flags.add_options()("extra", boost::program_options::value(extra_flag), "A flag.");
  };
  factory.create = [](const ServerOptions&) -> absl::StatusOr<ServiceSet> {
    ServiceSet set;
    set.services.push_back(std::make_unique<TestServiceImpl>());
    return set;
  };
  return factory;
}

TEST(ServerMainTest, HelpAndBadFlags) {
  std::string extra;
  ServiceFactory factory = TestFactory(&extra);
  // On threads of their own: ServerMain blocks SIGTERM/SIGINT in its calling thread.
  auto run = [&](std::vector<std::string> args) {
    return std::async(std::launch::async, [&, args] { return RunMain(args, factory); }).get();
  };
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(run({"fp-test", "--help"}), 0);
  const std::string help = ::testing::internal::GetCapturedStdout();
  EXPECT_THAT(help, HasSubstr("Serves the test service."));
  EXPECT_THAT(help, HasSubstr("--drain-grace-seconds"));
  EXPECT_THAT(help, HasSubstr("--extra"));

  ::testing::internal::CaptureStderr();
  EXPECT_EQ(run({"fp-test", "--no-such-flag"}), 2);
  EXPECT_EQ(run({"fp-test", "--log-format=xml"}), 2);
  const std::string errors = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(errors, HasSubstr("no-such-flag"));
  EXPECT_THAT(errors, HasSubstr("--log-format: got 'xml'"));

  factory.create = [](const ServerOptions&) -> absl::StatusOr<ServiceSet> {
    return absl::InvalidArgumentError("--extra is required");
  };
  EXPECT_EQ(run({"fp-test", "--listen=127.0.0.1:0", "--log-level=off"}), 2);
}

TEST(ServerMainTest, ServesUntilSigtermThenDrains) {
  std::string extra;
  ServiceFactory factory = TestFactory(&extra);
  std::promise<void> created;
  auto create = factory.create;
  factory.create = [&](const ServerOptions& options) {
    auto set = create(options);
    created.set_value();
    return set;
  };
  std::atomic<int> exit_code = -1;
  std::thread main_thread([&] {
    exit_code =
        RunMain({"fp-test", "--listen=127.0.0.1:0", "--log-level=warn", "--extra=v"}, factory);
  });
  ASSERT_EQ(created.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(extra, "v");
  // SIGTERM is blocked in that thread since ServerMain's first line, so it waits for sigwait.
  pthread_kill(main_thread.native_handle(), SIGTERM);
  main_thread.join();
  EXPECT_EQ(exit_code, 0);
}

}  // namespace
}  // namespace framepair
