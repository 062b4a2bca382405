package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/prism-agent/prism-agent/internal/metrics"
	"github.com/prism-agent/prism-agent/internal/store"
)

type ctxKey int

const (
	keyLogger ctxKey = iota
	keyPrincipal
)

// maxRequestIDLength bounds a client-supplied X-Request-Id.
const maxRequestIDLength = 64

// requestID honours a well-formed X-Request-Id (so a gateway's id follows
// the request into our logs) or generates one, returns it, and puts a
// logger carrying it into the context.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		l := s.logger.With("request_id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyLogger, l)))
	})
}

// validRequestID accepts ids a log line can carry verbatim: no CR/LF,
// quotes or spaces.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func logger(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// accessLog writes one line per request. It logs the route pattern, not
// the raw path, so secret names and DIDs of tenants stay out of the logs.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		level := slog.LevelInfo
		switch {
		case sw.status >= 500:
			level = slog.LevelError
		case sw.status >= 400:
			level = slog.LevelWarn
		}
		logger(r).LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", sw.status), slog.Int("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)))
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger(r).Error("handler panicked", "panic", panicText(v))
				writeProblem(w, r, http.StatusInternalServerError, "internal", "an internal error occurred")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// panicText keeps only the type of a panic value in the log: its text may
// carry request data.
func panicText(v any) string { return fmt.Sprintf("%T", v) }

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBody {
			writeProblem(w, r, http.StatusRequestEntityTooLarge, "body-too-large",
				"the request body is larger than "+strconv.FormatInt(s.maxBody, 10)+" bytes")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		next.ServeHTTP(w, r)
	})
}

// tenantOnly authenticates the caller by a bearer JWT or, without one, by
// the apikey header.
func (s *Server) tenantOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var p store.Principal
		var err error
		if token, ok := bearerToken(r); ok {
			p, ctx, err = s.bearerPrincipal(ctx, token)
			if err != nil {
				s.authFailed("bearer", err)
				s.renderError(w, r, err)
				return
			}
		} else if p, err = s.auth.Tenant(ctx, r.Header.Get("apikey")); err != nil {
			s.authFailed(metrics.SchemeAPIKey, err)
			s.renderError(w, r, err)
			return
		}
		ctx = context.WithValue(ctx, keyPrincipal, p)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// adminOnly authenticates the operator by the x-admin-api-key header.
func (s *Server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token := r.Header.Get("x-admin-api-key"); !s.auth.Admin(token) {
			err := adminFailure(token)
			s.authFailed(metrics.SchemeAdmin, err)
			s.renderError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func principal(r *http.Request) (store.Principal, bool) {
	p, ok := r.Context().Value(keyPrincipal).(store.Principal)
	return p, ok
}

func itoa(n int) string { return strconv.Itoa(n) }
