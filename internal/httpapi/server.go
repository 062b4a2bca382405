// Package httpapi is the agent's REST API. A handler decodes the request,
// authorizes the caller, calls the domain and renders the result; errors
// become RFC 9457 problem documents in one place (renderError).
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/metrics"
	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/vault/tenancy"
	"github.com/prism-agent/prism-agent/internal/wallet"
)

// Check is one readiness check: nil when the dependency is usable.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	Version      string
	PublicPrefix string // path prefix under which a gateway exposes the agent
	MaxBodyBytes int64
	Logger       *slog.Logger
	Auth         *iam.Authenticator
	Wallets      *wallet.Service
	Entities     *iam.Entities
	// Tenancy issues tenants' Vault credentials and exchanges them for
	// JWTs; nil where wallets have no Vault identity.
	Tenancy *tenancy.Tenancy
	// Bearer verifies tenants' JWTs; nil disables bearer authentication.
	Bearer BearerVerifier
	// TrustedProxies are gateways whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	Ready          []Check
	// Metrics receives the API's metrics; nil gives the Server its own.
	Metrics *metrics.Metrics
}

// Server is the HTTP API.
type Server struct {
	version  string
	prefix   string
	maxBody  int64
	logger   *slog.Logger
	auth     *iam.Authenticator
	wallets  *wallet.Service
	entities *iam.Entities
	tenancy  *tenancy.Tenancy
	bearer   BearerVerifier
	// trustedProxies are the gateways whose X-Forwarded-For is believed.
	trustedProxies []netip.Prefix
	// tokenLimiter bounds POST /oauth2/token attempts.
	tokenLimiter *tokenLimiter
	ready        []Check
	metrics      *metrics.Metrics
	router       chi.Router
}

// New returns the API handler.
func New(o Options) *Server {
	s := &Server{
		version: o.Version, prefix: o.PublicPrefix, maxBody: o.MaxBodyBytes, logger: o.Logger,
		auth: o.Auth, wallets: o.Wallets, entities: o.Entities, tenancy: o.Tenancy, bearer: o.Bearer, trustedProxies: o.TrustedProxies, tokenLimiter: newTokenLimiter(), ready: o.Ready,
		metrics: metricsOrNew(o.Metrics),
	}
	r := chi.NewRouter()
	r.Use(middleware.GetHead)
	r.Use(s.requestID, s.accessLog, s.instrument, s.recoverer, s.limitBody)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "not-found", "no such resource")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(s.allowed(r.URL.Path), ", "))
		writeProblem(w, r, http.StatusMethodNotAllowed, "method-not-allowed",
			"the method "+r.Method+" is not allowed on this resource")
	})

	r.Get("/_system/health", s.health)
	r.Get("/_system/ready", s.readiness)
	r.Get("/_system/metrics", s.serveMetrics)
	s.docsRoutes(r)
	r.Get("/dids/{didRef}", s.resolveDID)
	r.Post("/oauth2/token", s.issueToken)

	r.Group(func(r chi.Router) {
		r.Use(s.adminOnly)
		r.Post("/wallets", s.createWallet)
		r.Post("/wallets/{walletId}/vault-credentials", s.createVaultCredentials)
		r.Post("/wallets/{walletId}/disable", s.setWalletState(store.WalletDisabled))
		r.Post("/wallets/{walletId}/enable", s.setWalletState(store.WalletActive))
		r.Post("/iam/entities", s.createEntity)
		r.Get("/iam/entities", s.listEntities)
		r.Get("/iam/entities/{id}", s.getEntity)
		r.Delete("/iam/entities/{id}", s.deleteEntity)
		r.Put("/iam/entities/{id}/name", s.renameEntity)
		r.Put("/iam/entities/{id}/walletId", s.moveEntity)
		r.Post("/iam/apikey-authentication", s.addAPIKey)
		r.Delete("/iam/apikey-authentication", s.removeAPIKey)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.adminOrTenant)
		r.Get("/wallets", s.listWallets)
		r.Get("/wallets/{walletId}", s.getWallet)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.tenantOnly)
		r.Get("/secrets", s.listSecrets)
		r.Get("/secrets/*", s.getSecretOrMetadata)
		r.Put("/secrets/*", s.putSecret)
		r.Delete("/secrets/*", s.deleteSecret)
		r.Post("/secrets/*", s.secretAction)
		r.Post("/did-registrar/dids", s.createDID)
		r.Get("/did-registrar/dids", s.listDIDs)
		r.Get("/did-registrar/dids/{didRef}", s.getDID)
		r.Post("/did-registrar/dids/{didRef}/signatures", s.signWithDID)
	})
	s.router = r
	return s
}

// allowed lists the methods the router serves on path, for the Allow
// header of a 405 (RFC 9110).
func (s *Server) allowed(path string) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodDelete} {
		probe := m
		if m == http.MethodHead {
			probe = http.MethodGet // HEAD is served wherever GET is
		}
		if s.router.Match(chi.NewRouteContext(), probe, path) {
			out = append(out, m)
		}
	}
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Routes lists the registered method and route patterns, for tests and the
// API description.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	_ = chi.Walk(s.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, [2]string{method, route})
		return nil
	})
	return out
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": s.version})
}

type readyCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func (s *Server) readiness(w http.ResponseWriter, r *http.Request) {
	checks := make([]readyCheck, 0, len(s.ready)+1)
	ok := true
	for _, c := range s.ready {
		rc := readyCheck{Name: c.Name, Status: "ok"}
		if err := c.Run(r.Context()); err != nil {
			ok = false
			rc.Status, rc.Detail = "failing", err.Error()
			logger(r).Warn("readiness check failing", "check", c.Name, "error", err.Error())
		}
		checks = append(checks, rc)
	}
	if missing := s.wallets.MissingSeeds(); len(missing) > 0 {
		ok = false
		checks = append(checks, readyCheck{Name: "wallet-seeds", Status: "failing",
			Detail: "wallet seed found missing from the secret store for " + plural(len(missing), "wallet") +
				" so far"})
	}
	if ok {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
		return
	}
	// Not ready is a problem document whose extension member "checks" says
	// which dependency is failing and why.
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(struct {
		Problem
		Checks []readyCheck `json:"checks"`
	}{Problem{Type: problemBase + "not-ready", Title: "Service Unavailable",
		Status: http.StatusServiceUnavailable, Detail: "the agent is not ready: " + failing(checks),
		Instance: r.URL.Path}, checks})
}

func failing(checks []readyCheck) string {
	var out []string
	for _, c := range checks {
		if c.Status != "ok" {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return strings.Join(out, "; ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return itoa(n) + " " + word + "s"
}
