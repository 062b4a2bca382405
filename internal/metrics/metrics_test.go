package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prism-agent/prism-agent/internal/secret"
	"github.com/prism-agent/prism-agent/internal/secret/embedded"
)

func TestWalletTokenCache(t *testing.T) {
	m := New()
	c := m.WalletTokenCache()
	c.Hit()
	c.Hit()
	c.Miss()
	want := `
# HELP prism_wallet_token_cache_requests_total Wallet-token cache lookups, by result (hit, miss).
# TYPE prism_wallet_token_cache_requests_total counter
prism_wallet_token_cache_requests_total{result="hit"} 2
prism_wallet_token_cache_requests_total{result="miss"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"prism_wallet_token_cache_requests_total"); err != nil {
		t.Fatal(err)
	}
	var nop WalletTokenCache = NopWalletTokenCache{}
	nop.Hit()
	nop.Miss()
}

func TestObserveHTTPRequest(t *testing.T) {
	m := New()
	m.ObserveHTTPRequest("/secrets/*", "GET", 200, 3*time.Millisecond)
	m.ObserveHTTPRequest("/secrets/*", "GET", 200, 5*time.Millisecond)
	m.ObserveHTTPRequest("unmatched", "BREW", 404, time.Millisecond)
	cases := []struct {
		name                  string
		route, method, status string
		want                  float64
	}{
		{name: "ok/counted by route", route: "/secrets/*", method: "GET", status: "200", want: 2},
		{name: "ok/unknown method bounded", route: "unmatched", method: "other", status: "404",
			want: 1},
		{name: "ok/raw method not a label", route: "unmatched", method: "BREW", status: "404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := testutil.ToFloat64(m.httpRequests.WithLabelValues(c.route, c.method, c.status))
			if got != c.want {
				t.Errorf("requests_total{%s,%s,%s} = %v, want %v", c.route, c.method, c.status,
					got, c.want)
			}
		})
	}
	if n := testutil.CollectAndCount(m.httpDuration); n != 2 {
		t.Errorf("duration series = %d, want one per label set observed (2)", n)
	}
}

func TestVaultErrorReason(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{name: "ok/no error", err: nil, want: ""},
		{name: "ok/not found is an answer", err: fmt.Errorf("reading: %w", secret.ErrNotFound)},
		{name: "ok/cas is an answer", err: fmt.Errorf("writing: %w", secret.ErrCASMismatch)},
		{name: "ok/invalid path is the caller's", err: secret.ErrInvalidPath},
		{name: "ok/client gave up", err: fmt.Errorf("reading: %w", context.Canceled)},
		{name: "fail/unavailable", err: fmt.Errorf("reading: %w: sealed", secret.ErrUnavailable),
			want: "unavailable"},
		{name: "fail/forbidden", err: fmt.Errorf("reading: %w", secret.ErrForbidden),
			want: "forbidden"},
		{name: "fail/other", err: errors.New("unexpected response"), want: "internal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := vaultErrorReason(c.err); got != c.want {
				t.Errorf("reason = %q, want %q", got, c.want)
			}
		})
	}
}

// TestVaultStore times the operations of a real (embedded) secret store
// through the wrapper and counts only failures as errors.
func TestVaultStore(t *testing.T) {
	dir := t.TempDir()
	key, err := embedded.LoadOrCreateMasterKey(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := embedded.Open(context.Background(), filepath.Join(dir, "secrets.db"), key,
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	m := New()
	st := m.VaultStore(inner)
	ctx := context.Background()
	p := secret.Path{Dir: "w1/generic-secrets", Name: "db"}

	if _, err := st.Put(ctx, p, "v1", secret.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, secret.Path{Dir: "w1/generic-secrets", Name: "nope"}, 0); !errors.Is(
		err, secret.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	if _, err := st.List(ctx, "w1/generic-secrets"); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	want := map[string]uint64{"put": 1, "get": 2, "list": 1, "ping": 1}
	for op, n := range want {
		if got := histogramCount(t, m, op); got != n {
			t.Errorf("operation_duration_seconds_count{operation=%q} = %d, want %d", op, got, n)
		}
	}
	if n := testutil.CollectAndCount(m.vaultErrors); n != 0 {
		t.Errorf("error series = %d, want none (not found is not an error)", n)
	}
	m.ObserveVault("get", time.Millisecond, secret.ErrUnavailable)
	if got := testutil.ToFloat64(m.vaultErrors.WithLabelValues("get", "unavailable")); got != 1 {
		t.Errorf("errors{get,unavailable} = %v, want 1", got)
	}
}

func histogramCount(t *testing.T, m *Metrics, op string) uint64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "prism_vault_operation_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == op {
					return s.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func TestWatchVaultToken(t *testing.T) {
	m := New()
	stats := VaultTokenStats{Logins: 3, Relogins: 2, LoginFailures: 1, Renewals: 7,
		RenewalFailures: 4, TokenRetries: 5}
	if err := m.WatchVaultToken(func() VaultTokenStats { return stats }); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP prism_vault_token_logins_total Logins of the agent's Vault account (AppRole), by result (ok, failed).
# TYPE prism_vault_token_logins_total counter
prism_vault_token_logins_total{result="failed"} 1
prism_vault_token_logins_total{result="ok"} 3
# HELP prism_vault_token_relogins_total Successful logins after the first one: the token was refused, expired or capped.
# TYPE prism_vault_token_relogins_total counter
prism_vault_token_relogins_total 2
# HELP prism_vault_token_renewals_total Renewals of the agent's Vault token, by result (ok, failed).
# TYPE prism_vault_token_renewals_total counter
prism_vault_token_renewals_total{result="failed"} 4
prism_vault_token_renewals_total{result="ok"} 7
# HELP prism_vault_token_retries_total Vault requests sent again after a new login because the token was no longer valid.
# TYPE prism_vault_token_retries_total counter
prism_vault_token_retries_total 5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"prism_vault_token_logins_total", "prism_vault_token_relogins_total",
		"prism_vault_token_renewals_total", "prism_vault_token_retries_total"); err != nil {
		t.Fatal(err)
	}
	t.Run("fail/registered twice", func(t *testing.T) {
		if err := m.WatchVaultToken(func() VaultTokenStats { return stats }); err == nil {
			t.Errorf("a second token watcher was accepted; its series would clash")
		}
	})
}

// TestLint checks the series against Prometheus' naming conventions.
func TestLint(t *testing.T) {
	m := New()
	m.ObserveHTTPRequest("/_system/health", "GET", 200, time.Millisecond)
	m.ObserveVault("get", time.Millisecond, secret.ErrForbidden)
	_ = m.WatchVaultToken(func() VaultTokenStats { return VaultTokenStats{} })
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
