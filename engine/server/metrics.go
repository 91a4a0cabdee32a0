package server

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// metrics are the server's Prometheus metrics, written in the text
// exposition format by hand (no client library: a handful of counters and
// histograms do not need one).
type metrics struct {
	reportsSummary  atomic.Int64 // reports stored from a summary (hash hit)
	reportsFull     atomic.Int64 // reports stored in full
	needPackages    atomic.Int64 // summaries answered need_packages (hash miss)
	setCacheHits    atomic.Int64 // package sets found in memory
	setCacheMisses  atomic.Int64 // package sets loaded from the store or decoded anew
	resultsRecorded atomic.Int64
	heartbeats      atomic.Int64
	planSeconds     *histogram // per-host plan computation after a report
	fleetPlanSecs   *histogram // GET /api/v1/plan computations

	mu  sync.Mutex
	api map[apiKey]*histogram // request latency by route and status code
}

type apiKey struct {
	route string
	code  int
}

var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func newMetrics() *metrics {
	return &metrics{planSeconds: newHistogram(latencyBuckets), fleetPlanSecs: newHistogram(latencyBuckets), api: map[apiKey]*histogram{}}
}

func (m *metrics) observeAPI(route string, code int, seconds float64) {
	k := apiKey{route, code}
	m.mu.Lock()
	h := m.api[k]
	if h == nil {
		h = newHistogram(latencyBuckets)
		m.api[k] = h
	}
	m.mu.Unlock()
	h.observe(seconds)
}

// histogram is a fixed-bucket histogram safe for concurrent use.
type histogram struct {
	bounds []float64
	counts []atomic.Int64 // per bucket, not cumulative; last is +Inf
	sumMu  sync.Mutex
	sum    float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Int64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i].Add(1)
	h.sumMu.Lock()
	h.sum += v
	h.sumMu.Unlock()
}

func (h *histogram) write(w io.Writer, name, labels string) {
	var cum int64
	sep := ""
	if labels != "" {
		sep = ","
	}
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{%s%sle=\"%g\"} %d\n", name, labels, sep, b, cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, cum)
	h.sumMu.Lock()
	sum := h.sum
	h.sumMu.Unlock()
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %g\n%s_count%s %d\n", name, labels, sum, name, labels, cum)
}

// write writes every metric in the Prometheus text format.
func (m *metrics) write(w io.Writer, sets int, hosts int64) {
	counter := func(name, help string, v int64, labels string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s%s %d\n", name, help, name, name, labels, v)
	}
	fmt.Fprintf(w, "# HELP patchbay_reports_received_total Reports durably stored, by form.\n# TYPE patchbay_reports_received_total counter\n")
	fmt.Fprintf(w, "patchbay_reports_received_total{form=\"summary\"} %d\n", m.reportsSummary.Load())
	fmt.Fprintf(w, "patchbay_reports_received_total{form=\"full\"} %d\n", m.reportsFull.Load())
	counter("patchbay_reports_need_packages_total", "Report summaries answered need_packages (package set unknown).", m.needPackages.Load(), "")
	counter("patchbay_set_cache_hits_total", "Package sets found in the server's set cache.", m.setCacheHits.Load(), "")
	counter("patchbay_set_cache_misses_total", "Package sets not in the set cache (loaded from the store or decoded).", m.setCacheMisses.Load(), "")
	hits, misses := float64(m.setCacheHits.Load()), float64(m.setCacheMisses.Load())
	rate := 0.0
	if hits+misses > 0 {
		rate = hits / (hits + misses)
	}
	fmt.Fprintf(w, "# HELP patchbay_set_cache_hit_ratio Set-cache hits over lookups since start.\n# TYPE patchbay_set_cache_hit_ratio gauge\npatchbay_set_cache_hit_ratio %g\n", rate)
	fmt.Fprintf(w, "# HELP patchbay_set_cache_sets Distinct package sets held in memory.\n# TYPE patchbay_set_cache_sets gauge\npatchbay_set_cache_sets %d\n", sets)
	fmt.Fprintf(w, "# HELP patchbay_rate_limited_hosts Hosts with a rate limiter.\n# TYPE patchbay_rate_limited_hosts gauge\npatchbay_rate_limited_hosts %d\n", hosts)
	counter("patchbay_results_recorded_total", "Action results recorded (not counting redeliveries).", m.resultsRecorded.Load(), "")
	counter("patchbay_heartbeats_recorded_total", "Agent heartbeats recorded for running host steps.", m.heartbeats.Load(), "")
	fmt.Fprintf(w, "# HELP patchbay_plan_seconds Time to compute one host's plan after a report.\n# TYPE patchbay_plan_seconds histogram\n")
	m.planSeconds.write(w, "patchbay_plan_seconds", "")
	fmt.Fprintf(w, "# HELP patchbay_fleet_plan_seconds Time to compute the fleet plan (GET /api/v1/plan).\n# TYPE patchbay_fleet_plan_seconds histogram\n")
	m.fleetPlanSecs.write(w, "patchbay_fleet_plan_seconds", "")
	fmt.Fprintf(w, "# HELP patchbay_http_request_duration_seconds API latency by route and status code.\n# TYPE patchbay_http_request_duration_seconds histogram\n")
	m.mu.Lock()
	keys := make([]apiKey, 0, len(m.api))
	for k := range m.api {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].route != keys[j].route {
			return keys[i].route < keys[j].route
		}
		return keys[i].code < keys[j].code
	})
	for _, k := range keys {
		m.mu.Lock()
		h := m.api[k]
		m.mu.Unlock()
		h.write(w, "patchbay_http_request_duration_seconds", fmt.Sprintf("route=%q,code=\"%d\"", k.route, k.code))
	}
}
