// Package metrics holds the agent's Prometheus collectors: HTTP requests,
// authentication failures, Vault operations and token lifecycle, and the
// wallet-token cache. They live in a registry of their own, never the
// global one, so that two agents in one process (as in tests) do not mix
// their series and a library cannot add series behind the agent's back.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every series of the agent.
const namespace = "prism"

// Authentication schemes, the "scheme" label of auth failures.
const (
	SchemeAPIKey = "apikey"
	SchemeAdmin  = "admin"
)

// Metrics is the agent's set of collectors and the registry they live in.
// Its methods are safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	vaultOps     *prometheus.HistogramVec
	vaultErrors  *prometheus.CounterVec
	tokenCache   *prometheus.CounterVec
}

// New returns the collectors registered in a new registry, with the Go
// runtime and process collectors beside them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "status"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "auth", Name: "failures_total",
			Help: "Failed authentications, by scheme (apikey, admin) and reason " +
				"(missing, unknown, disabled).",
		}, []string{"scheme", "reason"}),
		vaultOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "vault", Name: "operation_duration_seconds",
			Help: "Time of a secret store operation on Vault (retries and the requests " +
				"of a recursive list included), by operation.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		vaultErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "vault", Name: "operation_errors_total",
			Help: "Vault operations that failed, by operation and reason (unavailable, " +
				"forbidden, internal); not-found and check-and-set outcomes are not errors.",
		}, []string{"operation", "reason"}),
		tokenCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "wallet_token_cache", Name: "requests_total",
			Help: "Wallet-token cache lookups, by result (hit, miss).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.authFailures, m.vaultOps, m.vaultErrors, m.tokenCache,
	)
	// Series that alerts watch exist at zero from the start, so that a
	// rate over the first failure is not lost.
	for _, reason := range []string{"missing", "unknown", "disabled"} {
		m.authFailures.WithLabelValues(SchemeAPIKey, reason)
	}
	for _, reason := range []string{"missing", "unknown"} {
		m.authFailures.WithLabelValues(SchemeAdmin, reason)
	}
	m.tokenCache.WithLabelValues(resultHit)
	m.tokenCache.WithLabelValues(resultMiss)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return m
}

// Registry returns the registry of the agent's collectors, for tests and
// for collectors that other packages add.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveHTTPRequest records one answered request. route must be the
// router's pattern ("/secrets/*"), never the raw path: paths carry secret
// names and DIDs, and would make the series unbounded.
func (m *Metrics) ObserveHTTPRequest(route, method string, status int, d time.Duration) {
	labels := prometheus.Labels{"route": route, "method": knownMethod(method),
		"status": strconv.Itoa(status)}
	m.httpRequests.With(labels).Inc()
	m.httpDuration.With(labels).Observe(d.Seconds())
}

// knownMethod bounds the method label: a client can send any token as a
// method.
func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// AuthFailure counts a failed authentication of scheme (SchemeAPIKey or
// SchemeAdmin) for reason (see package iam: missing, unknown, disabled).
func (m *Metrics) AuthFailure(scheme, reason string) {
	m.authFailures.WithLabelValues(scheme, reason).Inc()
}
