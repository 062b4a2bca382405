package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/time/rate"

	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/vault/tenancy"
)

// errUnprocessable marks a request that is well-formed but cannot be
// served as asked (422).
var errUnprocessable = errors.New("unprocessable")

type credentialsRequest struct {
	Type     string `json:"type"` // userpass or approle
	Username string `json:"username,omitempty"`
}

type credentialsResponse struct {
	Type         string `json:"type"`
	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
}

var errNoTenancy = fmt.Errorf("%w: tenant Vault credentials need SECRET_STORAGE_BACKEND=vault and "+
	"PRISM_WALLET_VAULT_AUTH=token-role or jwt", errUnprocessable)

// createVaultCredentials issues Vault login credentials for a wallet's
// tenant. They are shown once; the agent stores none of them.
func (s *Server) createVaultCredentials(w http.ResponseWriter, r *http.Request) {
	var req credentialsRequest
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	if s.tenancy == nil {
		s.renderError(w, r, errNoTenancy)
		return
	}
	rec, err := s.wallets.Get(r.Context(), strings.ToLower(chi.URLParam(r, "walletId")))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	var resp credentialsResponse
	switch req.Type {
	case "userpass":
		l, err := s.tenancy.CreateUserpassLogin(r.Context(), rec.ID, req.Username)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		resp = credentialsResponse{Type: req.Type, Username: l.Username, Password: l.Password}
	case "approle":
		if req.Username != "" {
			s.renderError(w, r, fmt.Errorf("%w: username applies to type userpass only", errBadRequest))
			return
		}
		l, err := s.tenancy.CreateAppRoleLogin(r.Context(), rec.ID)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		resp = credentialsResponse{Type: req.Type, ClientID: l.ClientID, ClientSecret: l.ClientSecret}
	default:
		s.renderError(w, r, fmt.Errorf("%w: type must be userpass or approle", errBadRequest))
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// tokenRequest holds the fields of an RFC 6749 token request, from a form
// or a JSON body.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func readTokenRequest(r *http.Request) (tokenRequest, error) {
	var req tokenRequest
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			var maxBytes *http.MaxBytesError
			if errors.As(err, &maxBytes) {
				return req, err
			}
			return req, fmt.Errorf("%w: malformed form body", errBadRequest)
		}
		f := r.PostForm
		req = tokenRequest{GrantType: f.Get("grant_type"), Username: f.Get("username"),
			Password: f.Get("password"), ClientID: f.Get("client_id"), ClientSecret: f.Get("client_secret")}
	case "application/json":
		if err := decodeJSON(r, &req); err != nil {
			return req, err
		}
	default:
		return req, fmt.Errorf("%w: Content-Type must be application/x-www-form-urlencoded or application/json",
			errBadRequest)
	}
	// RFC 6749 section 2.3.1: client credentials may come as HTTP Basic.
	if id, secret, ok := r.BasicAuth(); ok && req.ClientID == "" {
		req.ClientID, req.ClientSecret = id, secret
	}
	return req, nil
}

// issueToken exchanges a tenant's Vault credentials for a JWT issued by
// Vault (RFC 6749 password and client-credentials grants).
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	if s.tenancy == nil {
		s.renderError(w, r, errNoTenancy)
		return
	}
	req, err := readTokenRequest(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	client := req.Username
	if req.GrantType == "client_credentials" {
		client = req.ClientID
	}
	ip := s.clientIP(r)
	if !s.tokenLimiter.allow(ip, client) {
		logger(r).Warn("token requests rate-limited")
		w.Header().Set("Retry-After", strconv.Itoa(int(tokenLimitWindow.Seconds())))
		writeOAuthProblem(w, r, http.StatusTooManyRequests, "rate-limited", "invalid_request",
			"too many failed token requests; retry later")
		return
	}
	var tok tenancy.IdentityToken
	switch req.GrantType {
	case "password":
		tok, err = s.tenancy.ExchangePassword(r.Context(), req.Username, req.Password)
	case "client_credentials":
		tok, err = s.tenancy.ExchangeClientCredentials(r.Context(), req.ClientID, req.ClientSecret)
	default:
		writeOAuthProblem(w, r, http.StatusBadRequest, "bad-request", "unsupported_grant_type",
			"grant_type must be password or client_credentials")
		return
	}
	if errors.Is(err, tenancy.ErrBadCredentials) {
		s.tokenLimiter.failed(ip, client)
		s.authFailed("oauth2", iam.Failure(iam.ReasonUnknown))
		logger(r).Warn("authentication failed", "scheme", "oauth2")
		// One answer for every cause. 401 with invalid_client is what RFC
		// 6749 gives failed client authentication; a wrong password gets
		// the same, so that the two cannot be told apart.
		writeOAuthProblem(w, r, http.StatusUnauthorized, "unauthorized", "invalid_client", publicAuthFailure)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok.JWT, TokenType: "Bearer", ExpiresIn: tok.ExpiresIn})
}

// clientIP is the caller's address: the peer's, or, when the peer is a
// trusted gateway, the last address of X-Forwarded-For (the one that
// gateway appended; earlier entries come from the client and prove nothing).
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	fwd := r.Header.Values("X-Forwarded-For")
	if len(fwd) == 0 {
		return host
	}
	parts := strings.Split(fwd[len(fwd)-1], ",")
	if last, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
		return last.String()
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// Failed token requests are limited per client name and per source
// address, so that guessing one tenant's password is slow and one source
// cannot try many tenants quickly; successful requests cost nothing, so
// that a working client is not locked out by someone else's failures
// beyond the address's own budget.
const (
	tokenLimitWindow = 10 * time.Second
	clientBurst      = 10 // failures per client per window
	addressBurst     = 30 // failures per source address per window
	limiterMaxKeys   = 10000
)

type tokenLimiter struct {
	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

func newTokenLimiter() *tokenLimiter { return &tokenLimiter{keys: map[string]*rate.Limiter{}} }

func (l *tokenLimiter) limiter(key string, burst int) *rate.Limiter {
	if len(l.keys) > limiterMaxKeys {
		// Bounded memory: forgetting every limiter lets a burst through,
		// which is better than refusing every client.
		l.keys = map[string]*rate.Limiter{}
	}
	lim, ok := l.keys[key]
	if !ok {
		lim = rate.NewLimiter(rate.Every(tokenLimitWindow/time.Duration(burst)), burst)
		l.keys[key] = lim
	}
	return lim
}

// allow reports whether both budgets have room for another failure.
func (l *tokenLimiter) allow(ip, client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limiter("ip:"+ip, addressBurst).Tokens() >= 1 &&
		l.limiter("client:"+client, clientBurst).Tokens() >= 1
}

// failed spends one failure from both budgets.
func (l *tokenLimiter) failed(ip, client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limiter("ip:"+ip, addressBurst).Allow()
	l.limiter("client:"+client, clientBurst).Allow()
}

// writeOAuthProblem writes a problem document that also carries the RFC
// 6749 section 5.2 "error" member, so that OAuth clients read it too.
func writeOAuthProblem(w http.ResponseWriter, r *http.Request, status int, slug, oauthErr, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Problem
		Error string `json:"error"`
	}{Problem{Type: problemBase + slug, Title: http.StatusText(status), Status: status, Detail: detail,
		Instance: r.URL.Path}, oauthErr})
}
