package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/jwtauth"
	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/wallet"
)

// BearerVerifier verifies tenants' JWTs.
type BearerVerifier interface {
	Verify(ctx context.Context, raw string) (jwtauth.Claims, error)
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// bearerPrincipal authenticates a tenant by its JWT: a verified token
// whose wallet claim names an active wallet. Every failure is the same
// ErrUnauthenticated to the client; the reason goes to metrics and logs.
func (s *Server) bearerPrincipal(ctx context.Context, token string) (store.Principal, context.Context, error) {
	if s.bearer == nil {
		return store.Principal{}, ctx, iam.Failure(iam.ReasonUnknown)
	}
	claims, err := s.bearer.Verify(ctx, token)
	if errors.Is(err, jwtauth.ErrUnavailable) {
		return store.Principal{}, ctx, err
	}
	if err != nil {
		return store.Principal{}, ctx, iam.Failure("jwt-" + string(jwtauth.ReasonOf(err)))
	}
	w, err := s.wallets.Get(ctx, claims.WalletID)
	switch {
	case errors.Is(err, wallet.ErrNotFound):
		return store.Principal{}, ctx, iam.Failure(iam.ReasonUnknown)
	case err != nil:
		return store.Principal{}, ctx, err
	case w.State != store.WalletActive:
		return store.Principal{}, ctx, iam.Failure(iam.ReasonDisabled)
	}
	ctx = wallet.WithBearer(ctx, wallet.Bearer{Token: token, Expiry: claims.Expiry})
	return store.Principal{Wallet: w}, ctx, nil
}
