package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/secret"
)

func TestClassify(t *testing.T) {
	const url = "http://127.0.0.1:8200/v1/secret/data/wallet-42/generic-secrets/name"
	resp := func(code int, msgs ...string) error {
		return fmt.Errorf("wrapped: %w", &api.ResponseError{
			HTTPMethod: "GET", URL: url, StatusCode: code, Errors: msgs,
		})
	}
	refused := &urlError{url: url, err: &net.OpError{Op: "dial", Net: "tcp",
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}

	tests := []struct {
		name string
		err  error
		want []error
	}{
		{"ok/not-found", resp(404), []error{secret.ErrNotFound}},
		{"ok/cas", resp(400, "check-and-set parameter did not match the current version"),
			[]error{secret.ErrCASMismatch}},
		{"ok/forbidden", resp(403, "1 error occurred:\n\t* permission denied\n\n"),
			[]error{secret.ErrForbidden}},
		{"ok/invalid-token", resp(403, "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"),
			[]error{secret.ErrUnavailable, ErrInvalidToken}},
		{"ok/sealed", resp(503, "Vault is sealed"), []error{secret.ErrUnavailable}},
		{"ok/standby", resp(429), []error{secret.ErrUnavailable}},
		{"ok/internal", resp(500, "internal error"), []error{secret.ErrUnavailable}},
		{"ok/refused", refused, []error{secret.ErrUnavailable}},
		{"ok/other-400", resp(400, "unsupported path secret/data/wallet-42"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify("reading secret", context.Background(), tc.err)
			for _, w := range tc.want {
				if !errors.Is(got, w) {
					t.Fatalf("classify = %v, want %v", got, w)
				}
			}
			for _, leak := range []string{"wallet-42", "127.0.0.1", "permission denied", "sealed"} {
				if strings.Contains(got.Error(), leak) {
					t.Fatalf("classify = %q, leaks %q", got, leak)
				}
			}
		})
	}

	t.Run("ok/canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got := classify("reading secret", ctx, fmt.Errorf("get %s: %w", url, context.Canceled))
		if !errors.Is(got, context.Canceled) || errors.Is(got, secret.ErrUnavailable) {
			t.Fatalf("classify = %v, want only %v", got, context.Canceled)
		}
	})
}

// urlError mimics *url.Error, whose message carries the request URL.
type urlError struct {
	url string
	err error
}

func (e *urlError) Error() string { return (&url.Error{Op: "Get", URL: e.url, Err: e.err}).Error() }
func (e *urlError) Unwrap() error { return e.err }

func TestNameMetadata(t *testing.T) {
	tests := []struct {
		name  string
		value string
		plain bool
	}{
		{"ok/plain", "team/db/password", true},
		{"ok/longest-printable", strings.Repeat("é", 256), true},
		{"ok/zero-width", "a\u200bb", false},
		{"ok/nbsp-512-bytes", strings.Repeat("\u00a0", 256), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := nameMetadata(tc.value)
			if _, ok := m[nameKey]; ok != tc.plain {
				t.Fatalf("plain name key present = %t, want %t", ok, tc.plain)
			}
			raw := map[string]any{}
			for k, v := range m {
				if len(v) > 512 {
					t.Fatalf("metadata value of %d bytes exceeds Vault's limit", len(v))
				}
				raw[k] = v
			}
			if got := nameFromMetadata(raw); got != tc.value {
				t.Fatalf("round trip = %q, want %q", got, tc.value)
			}
		})
	}
	t.Run("fail/no-name", func(t *testing.T) {
		if got := nameFromMetadata(map[string]any{"other": "x"}); got != "" {
			t.Fatalf("got %q, want empty", got)
		}
	})
}
