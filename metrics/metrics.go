// Package metrics owns storaged's Prometheus metrics: one registry per
// server (no global state), the counters the protocol front ends bump,
// and the HTTP handler that serves them ([metrics] listen).
//
// Invariants:
//   - Label values come from small fixed sets (protocol, command names
//     the dispatch tables know, result kinds), never from client input:
//     an unknown IMAP command counts as "unknown", so a client cannot
//     grow the label space.
//   - A nil *Metrics is valid and counts nothing, so packages work
//     without one (tests, the CLI).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one server's metrics.
type Metrics struct {
	reg         *prometheus.Registry
	deliveries  *prometheus.CounterVec
	logins      *prometheus.CounterVec
	authFails   *prometheus.CounterVec
	commands    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	connections *prometheus.GaugeVec
	stored      *prometheus.CounterVec
	commits     prometheus.Histogram
	batch       prometheus.Histogram
}

// New returns the metrics with Go's runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storaged_lmtp_deliveries_total",
			Help: "Deliveries to one recipient, by result (ok, nouser, overquota, rejected, busy, diskfull, tempfail, toobig, refused).",
		}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storaged_logins_total",
			Help: "Login attempts by protocol and result (ok, failed).",
		}, []string{"proto", "result"}),
		authFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storaged_auth_failures_total",
			Help: "Failed logins by protocol and reason (unknown_user, wrong_password, disabled, bad_hash, no_scram, bad_name, authz, throttled, other).",
		}, []string{"proto", "reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storaged_commands_total",
			Help: "Commands by protocol (imap, pop3), name and outcome (IMAP: OK, NO, BAD; POP3: OK, ERR).",
		}, []string{"proto", "command", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "storaged_command_seconds",
			Help:    "Time from a command's last octet to its final response, by protocol and name.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 4, 9), // 0.2 ms to 13 s
		}, []string{"proto", "command"}),
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storaged_stored_bytes_total",
			Help: "Octets of messages stored, by how they came (lmtp, imap).",
		}, []string{"via"}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "storaged_index_commit_seconds",
			Help:    "Durable index commits (one bbolt commit, its fdatasyncs included).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10), // 0.1 ms to 2 s
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "storaged_index_commit_batch",
			Help:    "Writers served by one index commit (group commit: more than 1 shares the syncs).",
			Buckets: []float64{1, 2, 4, 8, 16, 32},
		}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "storaged_connections",
			Help: "Open client connections by protocol.",
		}, []string{"proto"}),
	}
	m.reg.MustRegister(m.deliveries, m.logins, m.authFails, m.commands, m.latency, m.connections, m.stored, m.commits, m.batch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Delivered counts one recipient's delivery result.
func (m *Metrics) Delivered(result string) {
	if m != nil {
		m.deliveries.WithLabelValues(result).Inc()
	}
}

// Login counts a login attempt.
func (m *Metrics) Login(proto string, ok bool) {
	if m == nil {
		return
	}
	r := "failed"
	if ok {
		r = "ok"
	}
	m.logins.WithLabelValues(proto, r).Inc()
}

// AuthFailure counts a failed login; reason must come from
// auth.Reason.Label's fixed set.
func (m *Metrics) AuthFailure(proto, reason string) {
	if m != nil {
		m.authFails.WithLabelValues(proto, reason).Inc()
	}
}

// Command counts a command and its time; name must come from the
// protocol's dispatch table (or be "unknown").
func (m *Metrics) Command(proto, name, status string, d time.Duration) {
	if m != nil {
		m.commands.WithLabelValues(proto, name, status).Inc()
		m.latency.WithLabelValues(proto, name).Observe(d.Seconds())
	}
}

// Stored counts the octets of a message stored.
func (m *Metrics) Stored(via string, octets int) {
	if m != nil {
		m.stored.WithLabelValues(via).Add(float64(octets))
	}
}

// IndexCommit observes one durable index commit serving n writers.
func (m *Metrics) IndexCommit(n int, d time.Duration) {
	if m != nil {
		m.commits.Observe(d.Seconds())
		m.batch.Observe(float64(n))
	}
}

// Connected tracks a connection of proto: +1 when it opens, -1 when it
// ends.
func (m *Metrics) Connected(proto string, delta float64) {
	if m != nil {
		m.connections.WithLabelValues(proto).Add(delta)
	}
}
