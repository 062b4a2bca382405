package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/metrics"
)

// instrument counts each request and its duration by the router's route
// pattern, never by the raw path, which carries secret names and DIDs.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 { // the handler wrote nothing: net/http answers 200
			status = http.StatusOK
		}
		s.metrics.ObserveHTTPRequest(routePattern(r), r.Method, status, time.Since(start))
	})
}

// routePattern is the pattern that matched r, or "unmatched".
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// serveMetrics answers GET /_system/metrics in the Prometheus text format.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.Handler().ServeHTTP(w, r)
}

// authFailed counts a failed authentication by its reason; the response
// is the same for every reason.
func (s *Server) authFailed(scheme string, err error) {
	if reason := iam.FailureReason(err); reason != "" {
		s.metrics.AuthFailure(scheme, reason)
	}
}

// adminFailure is the error of a request without a valid admin token.
func adminFailure(token string) error {
	if token == "" {
		return iam.Failure(iam.ReasonMissing)
	}
	return iam.Failure(iam.ReasonUnknown)
}

// metricsOrNew gives a Server built without collectors its own, so that
// /_system/metrics always answers.
func metricsOrNew(m *metrics.Metrics) *metrics.Metrics {
	if m == nil {
		return metrics.New()
	}
	return m
}
