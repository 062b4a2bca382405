package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/prism-agent/prism-agent/internal/did"
	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/jwtauth"
	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/vault/tenancy"
	"github.com/prism-agent/prism-agent/internal/wallet"
)

// problemBase prefixes the type URI of every problem document.
const problemBase = "https://prism-agent.dev/problems/"

// retryAfterSeconds is the Retry-After sent with 503 responses: long
// enough for a Vault re-login or a database failover, short enough that a
// client notices recovery quickly.
const retryAfterSeconds = 5

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// publicAuthFailure is the one message of every authentication failure, so
// that a caller cannot tell an unknown key from a disabled wallet.
const publicAuthFailure = "the request lacks valid authentication credentials"

func writeProblem(w http.ResponseWriter, r *http.Request, status int, slug, detail string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	p := Problem{
		Type:     problemBase + slug,
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   detail,
		Instance: r.URL.Path,
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// renderError maps a domain error to a problem document. Only messages of
// input-validation errors reach the client; everything else gets a fixed
// public text and is logged with the request id.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	var maxBytes *http.MaxBytesError
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		w.WriteHeader(499)
	case errors.As(err, &maxBytes):
		writeProblem(w, r, http.StatusRequestEntityTooLarge, "body-too-large",
			"the request body is larger than "+strconv.FormatInt(maxBytes.Limit, 10)+" bytes")
	case errors.Is(err, errBadRequest), errors.Is(err, wallet.ErrInvalidName),
		errors.Is(err, wallet.ErrInvalidInput), errors.Is(err, secret.ErrInvalidPath),
		errors.Is(err, iam.ErrInvalidInput):
		writeProblem(w, r, http.StatusBadRequest, "bad-request", err.Error())
	case errors.Is(err, iam.ErrUnauthenticated), errors.Is(err, tenancy.ErrBadCredentials):
		logger(r).Warn("authentication failed", "reason", iam.FailureReason(err))
		writeProblem(w, r, http.StatusUnauthorized, "unauthorized", publicAuthFailure)
	case errors.Is(err, errForbidden):
		writeProblem(w, r, http.StatusForbidden, "forbidden", "the caller may not perform this operation")
	case errors.Is(err, secret.ErrNotFound), errors.Is(err, wallet.ErrNotFound),
		errors.Is(err, store.ErrNotFound), errors.Is(err, iam.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, "not-found", "no such resource")
	case errors.Is(err, secret.ErrCASMismatch):
		writeProblem(w, r, http.StatusConflict, "cas-mismatch",
			"check-and-set failed: the current version is not the one given in cas")
	case errors.Is(err, did.ErrInvalidTemplate), errors.Is(err, did.ErrKeyCannotSign),
		errors.Is(err, did.ErrKeyNotFound), errors.Is(err, errUnprocessable),
		errors.Is(err, tenancy.ErrInvalidUsername):
		writeProblem(w, r, http.StatusUnprocessableEntity, "unprocessable", err.Error())
	case errors.Is(err, did.ErrInvalidDID):
		writeProblem(w, r, http.StatusBadRequest, "invalid-did", "the DID is not a valid PRISM DID")
	case errors.Is(err, did.ErrNotLongForm), errors.Is(err, wallet.ErrDIDNotFound):
		writeProblem(w, r, http.StatusNotFound, "not-found", "no such resource")
	case errors.Is(err, wallet.ErrExists), errors.Is(err, iam.ErrConflict),
		errors.Is(err, tenancy.ErrCredentialExists):
		writeProblem(w, r, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, secret.ErrUnavailable), errors.Is(err, store.ErrUnavailable),
		errors.Is(err, jwtauth.ErrUnavailable):
		logger(r).Warn("backend unavailable", "error", err.Error())
		writeProblem(w, r, http.StatusServiceUnavailable, "unavailable",
			"a backing store is unavailable; retry later")
	case errors.Is(err, secret.ErrForbidden):
		logger(r).Error("secret store refused the agent's credentials", "error", err.Error())
		writeProblem(w, r, http.StatusServiceUnavailable, "unavailable",
			"the secret store refused access; retry later")
	case errors.Is(err, wallet.ErrSeedMissing):
		logger(r).Error("wallet seed is missing")
		writeProblem(w, r, http.StatusServiceUnavailable, "wallet-not-ready",
			"the wallet's seed is missing from the secret store")
	default:
		logger(r).Error("request failed", "error", err.Error())
		writeProblem(w, r, http.StatusInternalServerError, "internal", "an internal error occurred")
	}
}

var (
	errBadRequest = errors.New("bad request")
	errForbidden  = errors.New("forbidden")
)
