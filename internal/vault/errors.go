package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// ErrInvalidToken means Vault rejected the token as invalid, expired or
// revoked (rather than denying one path). Errors that match it also match
// secret.ErrUnavailable: the caller cannot fix the request, only replace
// the token.
var ErrInvalidToken = errors.New("vault token invalid or expired")

// Fragments of Vault's error messages that decide an outcome. They are
// matched, never copied into our errors: Vault's messages may contain
// paths.
const (
	msgCASMismatch  = "check-and-set parameter did not match"
	msgInvalidToken = "invalid token"
	msgPastMaxTTL   = "past the max TTL"
	msgMaxTTLCapped = "exceeded the effective max_ttl"
)

// classify turns an error of the Vault API client into one of the secret
// package's outcomes, prefixed with op. The result never contains Vault's
// response body or the request URL (which holds the secret's path).
func classify(op string, ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		return classifyResponse(op, re)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, context.Canceled)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w: %w", op, secret.ErrUnavailable, ctx.Err())
	}
	return fmt.Errorf("%s: %w: %s", op, secret.ErrUnavailable, transportDetail(err))
}

func classifyResponse(op string, re *api.ResponseError) error {
	code := re.StatusCode
	switch {
	case code == 404:
		return fmt.Errorf("%s: %w", op, secret.ErrNotFound)
	case code == 400 && mentions(re.Errors, msgCASMismatch):
		return fmt.Errorf("%s: %w", op, secret.ErrCASMismatch)
	case code == 403 && mentions(re.Errors, msgInvalidToken):
		return fmt.Errorf("%s: %w: %w", op, secret.ErrUnavailable, ErrInvalidToken)
	case code == 403:
		return fmt.Errorf("%s: %w", op, secret.ErrForbidden)
	case code == 412 || code == 429 || code >= 500:
		// 412: a standby has not caught up; 429: standby or rate limit;
		// 503: sealed or not active.
		return fmt.Errorf("%s: %w (vault status %d)", op, secret.ErrUnavailable, code)
	default:
		return fmt.Errorf("%s: vault refused the request (status %d)", op, code)
	}
}

func mentions(msgs []string, fragment string) bool {
	return slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, fragment) })
}

// transportDetail names why a request got no answer, without the URL that
// the underlying error carries.
func transportDetail(err error) string {
	var errno syscall.Errno
	var ne net.Error
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	default:
		return "request failed"
	}
}

// isInvalidToken reports whether Vault refused a request because of its
// token rather than its path.
func isInvalidToken(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == 403 && mentions(re.Errors, msgInvalidToken)
}

// answered reports whether Vault replied to the request (with an error
// status), as opposed to not being reached.
func answered(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re)
}

// pastMaxTTL reports whether Vault refused a renewal because the token's
// max TTL has passed.
func pastMaxTTL(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && mentions(re.Errors, msgPastMaxTTL)
}

func isForbidden(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == 403
}

// safeError renders err for a log line.
func safeError(err error) string {
	return classify("vault request", context.Background(), err).Error()
}

func statusSuffix(err error) string {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf(" (status %d)", re.StatusCode)
	}
	return ""
}
