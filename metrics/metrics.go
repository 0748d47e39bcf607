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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one server's metrics.
type Metrics struct {
	reg         *prometheus.Registry
	deliveries  *prometheus.CounterVec
	logins      *prometheus.CounterVec
	commands    *prometheus.CounterVec
	connections *prometheus.GaugeVec
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
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storaged_imap_commands_total",
			Help: "IMAP commands by name and outcome (OK, NO, BAD).",
		}, []string{"command", "status"}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "storaged_connections",
			Help: "Open client connections by protocol.",
		}, []string{"proto"}),
	}
	m.reg.MustRegister(m.deliveries, m.logins, m.commands, m.connections,
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

// Command counts an IMAP command; name must come from the dispatch table.
func (m *Metrics) Command(name, status string) {
	if m != nil {
		m.commands.WithLabelValues(name, status).Inc()
	}
}

// Connected tracks a connection of proto: +1 when it opens, -1 when it
// ends.
func (m *Metrics) Connected(proto string, delta float64) {
	if m != nil {
		m.connections.WithLabelValues(proto).Add(delta)
	}
}
