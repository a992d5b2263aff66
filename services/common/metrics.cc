#include "services/common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace framepair {
namespace {

[[noreturn]] void Misuse(std::string_view metric, std::string_view problem) {
  std::fprintf(stderr, "metrics misuse: %.*s: %.*s\n", static_cast<int>(metric.size()),
               metric.data(), static_cast<int>(problem.size()), problem.data());
  std::abort();
}

bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(std::string_view s) {
  return IsMetricName(s) && s.find(':') == std::string_view::npos && !s.starts_with("__");
}

// An unlabeled gauge read at scrape time.
class CallbackGauge final : public metrics_internal::Family {
 public:
  CallbackGauge(std::string name, std::string help, std::function<double()> read)
      : Family(std::move(name), std::move(help), "gauge", {}), read_(std::move(read)) {}

 private:
  void RenderSamples(std::string* out) const override {
    absl::StrAppend(out, name(), " ", FormatPrometheusValue(read_()), "\n");
  }
  std::function<double()> read_;
};

}  // namespace

std::string EscapePrometheusHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapePrometheusLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatPrometheusValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Shortest representation that parses back to the same double: counters stay integral
  // ("1234567", not "1.23457e+06") and bucket bounds read as written ("0.005").
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::vector<double> LatencySecondsBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
          1,     2.5,    5,     10,   30,    60,   120, 300,  600};
}

namespace metrics_internal {

Family::Family(std::string name, std::string help, std::string type,
               std::vector<std::string> labels)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(std::move(type)),
      label_names_(std::move(labels)) {
  if (!IsMetricName(name_)) Misuse(name_, "invalid metric name");
  for (const std::string& label : label_names_) {
    if (!IsLabelName(label)) Misuse(name_, absl::StrCat("invalid label name '", label, "'"));
  }
  std::vector<std::string> sorted = label_names_;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    Misuse(name_, "duplicate label name");
  }
}

void Family::Render(std::string* out) const {
  absl::StrAppend(out, "# HELP ", name_, " ", EscapePrometheusHelp(help_), "\n");
  absl::StrAppend(out, "# TYPE ", name_, " ", type_, "\n");
  RenderSamples(out);
}

void Family::CheckLabelCount(const LabelValues& values) const {
  if (values.size() != label_names_.size()) {
    Misuse(name_, absl::StrCat("got ", values.size(), " label values for labels {",
                               absl::StrJoin(label_names_, ","), "}"));
  }
}

std::string Family::SampleName(std::string_view suffix, const LabelValues& values,
                               std::string_view extra) const {
  std::string out = name_ + std::string(suffix);
  if (values.empty() && extra.empty()) return out;
  out += '{';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, label_names_[i], "=\"", EscapePrometheusLabelValue(values[i]), "\"");
  }
  if (!extra.empty()) {
    if (!values.empty()) out += ',';
    out += extra;
  }
  out += '}';
  return out;
}

}  // namespace metrics_internal

// --- Counter ---

void Counter::Increment(const LabelValues& labels, double by) {
  CheckLabelCount(labels);
  if (!(by >= 0)) return;
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] += by;
}

double Counter::Value(const LabelValues& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void Counter::RenderSamples(std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, value] : values_) {
    absl::StrAppend(out, SampleName("", labels), " ", FormatPrometheusValue(value), "\n");
  }
}

// --- Gauge ---

void Gauge::Set(const LabelValues& labels, double value) {
  CheckLabelCount(labels);
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] = value;
}

void Gauge::Add(const LabelValues& labels, double delta) {
  CheckLabelCount(labels);
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] += delta;
}

double Gauge::Value(const LabelValues& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void Gauge::RenderSamples(std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, value] : values_) {
    absl::StrAppend(out, SampleName("", labels), " ", FormatPrometheusValue(value), "\n");
  }
}

// --- Histogram ---

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> labels,
                     std::vector<double> bounds)
    : Family(std::move(name), std::move(help), "histogram", std::move(labels)),
      bounds_(std::move(bounds)) {
  for (const std::string& label : label_names()) {
    if (label == "le") Misuse(this->name(), "'le' is reserved for histogram buckets");
  }
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i] > bounds_[i - 1]))) {
      Misuse(this->name(), "bucket bounds must be finite and strictly increasing");
    }
  }
}

void Histogram::Observe(const LabelValues& labels, double value) {
  CheckLabelCount(labels);
  // First bound >= value: buckets are "less than or equal" upper bounds.
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  Data& data = data_[labels];
  if (data.counts.empty()) data.counts.assign(bounds_.size() + 1, 0);
  ++data.counts[bucket];
  data.sum += value;
  ++data.count;
}

uint64_t Histogram::Count(const LabelValues& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = data_.find(labels);
  return it == data_.end() ? 0 : it->second.count;
}

double Histogram::Sum(const LabelValues& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = data_.find(labels);
  return it == data_.end() ? 0 : it->second.sum;
}

void Histogram::RenderSamples(std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, data] : data_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += data.counts[i];
      const std::string le =
          i < bounds_.size() ? FormatPrometheusValue(bounds_[i]) : std::string("+Inf");
      absl::StrAppend(out, SampleName("_bucket", labels, absl::StrCat("le=\"", le, "\"")), " ",
                      cumulative, "\n");
    }
    absl::StrAppend(out, SampleName("_sum", labels), " ", FormatPrometheusValue(data.sum), "\n");
    absl::StrAppend(out, SampleName("_count", labels), " ", data.count, "\n");
  }
}

// --- CallbackGaugeHandle ---

CallbackGaugeHandle::CallbackGaugeHandle(CallbackGaugeHandle&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), name_(std::move(other.name_)) {}

CallbackGaugeHandle& CallbackGaugeHandle::operator=(CallbackGaugeHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

void CallbackGaugeHandle::Reset() {
  if (registry_ != nullptr) registry_->RemoveCallbackGauge(name_);
  registry_ = nullptr;
}

// --- MetricsRegistry ---

metrics_internal::Family& MetricsRegistry::AddFamily(
    std::unique_ptr<metrics_internal::Family> family) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(family->name());
  if (it == families_.end()) {
    it = families_.emplace(family->name(), std::move(family)).first;
    return *it->second;
  }
  const metrics_internal::Family& existing = *it->second;
  bool same = existing.type() == family->type() &&
              existing.label_names() == family->label_names() &&
              dynamic_cast<const CallbackGauge*>(&existing) == nullptr;
  auto* existing_histogram = dynamic_cast<const Histogram*>(&existing);
  auto* new_histogram = dynamic_cast<const Histogram*>(family.get());
  if (same && existing_histogram != nullptr && new_histogram != nullptr) {
    same = existing_histogram->bounds() == new_histogram->bounds();
  }
  if (!same) Misuse(family->name(), "registered twice with a different type, labels or buckets");
  return *it->second;
}

Counter& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                     const std::vector<std::string>& label_names) {
  auto& family = AddFamily(std::unique_ptr<Counter>(new Counter(name, help, label_names)));
  auto& counter = static_cast<Counter&>(family);
  // Unlabeled metrics are exported as 0 from the start, so rate() works from the first scrape.
  if (label_names.empty()) counter.Increment({}, 0);
  return counter;
}

Gauge& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                 const std::vector<std::string>& label_names) {
  auto& family = AddFamily(std::unique_ptr<Gauge>(new Gauge(name, help, label_names)));
  auto& gauge = static_cast<Gauge&>(family);
  if (label_names.empty()) gauge.Add({}, 0);
  return gauge;
}

Histogram& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                         const std::vector<std::string>& label_names,
                                         std::vector<double> bounds) {
  auto& family = AddFamily(
      std::unique_ptr<Histogram>(new Histogram(name, help, label_names, std::move(bounds))));
  return static_cast<Histogram&>(family);
}

CallbackGaugeHandle MetricsRegistry::AddCallbackGauge(const std::string& name,
                                                      const std::string& help,
                                                      std::function<double()> read) {
  auto gauge = std::make_unique<CallbackGauge>(name, help, std::move(read));
  std::lock_guard<std::mutex> lock(mu_);
  if (!families_.emplace(name, std::move(gauge)).second) Misuse(name, "registered twice");
  return CallbackGaugeHandle(this, name);
}

void MetricsRegistry::RemoveCallbackGauge(const std::string& name) {
  // Taking mu_ waits for a RenderPrometheusText that may be running the callback.
  std::lock_guard<std::mutex> lock(mu_);
  families_.erase(name);
}

std::string MetricsRegistry::RenderPrometheusText() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, family] : families_) family->Render(&out);
  return out;
}

MetricsRegistry& DefaultMetricsRegistry() {
  // Never destroyed: interceptors and threads may still record during static destruction.
  static MetricsRegistry* const registry = new MetricsRegistry();
  return *registry;
}

}  // namespace framepair
