// A small in-process metrics registry rendered in the Prometheus text exposition format
// (version 0.0.4). Families have fixed label names; label values are given when recording:
//
//   Counter& tasks = DefaultMetricsRegistry().AddCounter(
//       "framepair_tasks_total", "Tasks finished, by kind and outcome.", {"kind", "outcome"});
//   tasks.Increment({"dedup", "ok"});
//
// Thread-safety: everything here may be called from any thread. References returned by Add*
// stay valid for the registry's lifetime (the default registry is never destroyed).
// Misuse -- an invalid metric or label name, a label-value count that differs from the
// family's label names, re-registering a name with another type, labels or buckets -- is a
// programming error and aborts with a message naming the metric.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace framepair {

// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

class MetricsRegistry;

namespace metrics_internal {
// Common part of every family: identity, HELP text and rendering.
class Family {
 public:
  Family(std::string name, std::string help, std::string type, std::vector<std::string> labels);
  virtual ~Family() = default;
  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends "# HELP", "# TYPE" and the samples.
  void Render(std::string* out) const;

 protected:
  virtual void RenderSamples(std::string* out) const = 0;
  // Aborts unless `values` has one value per label name.
  void CheckLabelCount(const LabelValues& values) const;
  // `name{l1="v1",...,extra}`; extra (e.g. le="0.5") may be empty.
  std::string SampleName(std::string_view suffix, const LabelValues& values,
                         std::string_view extra = {}) const;

 private:
  std::string name_;
  std::string help_;
  std::string type_;
  std::vector<std::string> label_names_;
};
}  // namespace metrics_internal

// Monotonic count per label-value combination, e.g. requests handled.
class Counter final : public metrics_internal::Family {
 public:
  // Adds `by` (>= 0; negative values are ignored: counters never go down).
  void Increment(const LabelValues& labels = {}, double by = 1.0);
  // Current value; 0 for label values never recorded. For tests and callers' assertions.
  double Value(const LabelValues& labels = {}) const;

 private:
  friend class MetricsRegistry;
  Counter(std::string name, std::string help, std::vector<std::string> labels)
      : Family(std::move(name), std::move(help), "counter", std::move(labels)) {}
  void RenderSamples(std::string* out) const override;
  mutable std::mutex mu_;
  std::map<LabelValues, double> values_;
};

// A value that goes up and down, e.g. jobs running.
class Gauge final : public metrics_internal::Family {
 public:
  void Set(const LabelValues& labels, double value);
  void Set(double value) { Set({}, value); }
  void Add(const LabelValues& labels, double delta);
  void Add(double delta) { Add({}, delta); }
  double Value(const LabelValues& labels = {}) const;

 private:
  friend class MetricsRegistry;
  Gauge(std::string name, std::string help, std::vector<std::string> labels)
      : Family(std::move(name), std::move(help), "gauge", std::move(labels)) {}
  void RenderSamples(std::string* out) const override;
  mutable std::mutex mu_;
  std::map<LabelValues, double> values_;
};

// Distribution over fixed buckets (upper bounds, inclusive, as Prometheus defines them),
// e.g. latency in seconds. Rendered as cumulative _bucket{le=...} series including
// le="+Inf", plus _sum and _count.
class Histogram final : public metrics_internal::Family {
 public:
  void Observe(const LabelValues& labels, double value);
  void Observe(double value) { Observe({}, value); }
  // Number of observations and their sum; 0 for label values never recorded.
  uint64_t Count(const LabelValues& labels = {}) const;
  double Sum(const LabelValues& labels = {}) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  friend class MetricsRegistry;
  Histogram(std::string name, std::string help, std::vector<std::string> labels,
            std::vector<double> bounds);
  void RenderSamples(std::string* out) const override;
  struct Data {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; last = above all bounds
    double sum = 0;
    uint64_t count = 0;
  };
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<LabelValues, Data> data_;
};

// Bucket upper bounds in seconds from 1 ms to 10 min, for RPC and task latencies (frame
// decoding takes milliseconds, a whole footage pair minutes).
std::vector<double> LatencySecondsBuckets();

// Keeps a callback gauge registered; destroying it (or Reset) unregisters the callback and
// waits for a scrape that is running it to finish, so the callback may capture objects that
// die right after this handle. Move-only.
class CallbackGaugeHandle {
 public:
  CallbackGaugeHandle() = default;
  CallbackGaugeHandle(CallbackGaugeHandle&& other) noexcept;
  CallbackGaugeHandle& operator=(CallbackGaugeHandle&& other) noexcept;
  ~CallbackGaugeHandle() { Reset(); }
  void Reset();

 private:
  friend class MetricsRegistry;
  CallbackGaugeHandle(MetricsRegistry* registry, std::string name)
      : registry_(registry), name_(std::move(name)) {}
  MetricsRegistry* registry_ = nullptr;
  std::string name_;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a family, or returns the existing one if `name` is already registered with
  // the same type and label names (and buckets), so independent components (and repeated
  // server starts in tests) can share a metric. Names follow Prometheus rules
  // ([a-zA-Z_:][a-zA-Z0-9_:]*; labels [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__");
  // by convention counters end in _total and carry the unit (_seconds, _bytes).
  Counter& AddCounter(const std::string& name, const std::string& help,
                      const std::vector<std::string>& label_names = {});
  Gauge& AddGauge(const std::string& name, const std::string& help,
                  const std::vector<std::string>& label_names = {});
  // `bounds`: strictly increasing finite upper bounds; +Inf is implicit. "le" may not be a
  // label name.
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          const std::vector<std::string>& label_names, std::vector<double> bounds);

  // An unlabeled gauge whose value is read at scrape time, e.g. a queue depth. `read` runs
  // on the scraping thread with the registry locked: it must be quick and must not call into
  // this registry. The name must not be registered yet.
  [[nodiscard]] CallbackGaugeHandle AddCallbackGauge(const std::string& name,
                                                     const std::string& help,
                                                     std::function<double()> read);

  // All families in name order, samples in label-value order (stable output for diffs and
  // tests), in text format 0.0.4.
  std::string RenderPrometheusText() const;

 private:
  friend class CallbackGaugeHandle;
  // Returns the family registered under `family->name()` if it matches (same type, labels
  // and buckets; aborts otherwise), else registers `family`.
  metrics_internal::Family& AddFamily(std::unique_ptr<metrics_internal::Family> family);
  void RemoveCallbackGauge(const std::string& name);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<metrics_internal::Family>> families_;
};

// The process-wide registry that ServerRunner's interceptors and /metrics endpoint use.
MetricsRegistry& DefaultMetricsRegistry();

// Prometheus text escaping, exposed for tests: HELP escapes backslash and newline; label
// values also escape the double quote.
std::string EscapePrometheusHelp(std::string_view help);
std::string EscapePrometheusLabelValue(std::string_view value);
// A sample value as Prometheus parses it: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string FormatPrometheusValue(double value);

}  // namespace framepair
