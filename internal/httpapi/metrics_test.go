package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/store/sqlite"
)

const (
	testAdminToken  = "admin-token-0123456789abcdef"
	disabledKey     = "disabled-wallet-key-0123456789"
	unknownKey      = "no-such-key-0123456789abcdef"
	disabledWallet  = "6f1c3a3e-1d4b-4c55-9a0e-2f1d7f3a9b10"
	disabledEntity  = "0d7b9e4c-2a6f-4b8e-8c1d-5e3f9a7b1c20"
	privateNameTail = "tenant-private-name"
)

// authServer is a Server whose authentication runs against a real SQLite
// record store holding one disabled wallet with an API key.
func authServer(t *testing.T, logs io.Writer) *Server {
	t.Helper()
	ctx := context.Background()
	records, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agent.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { records.Close() })
	hasher, err := iam.NewHasher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	err = records.CreateWallet(ctx, store.Wallet{ID: disabledWallet, Name: "off",
		State: store.WalletDisabled, SeedDigest: hasher.Seed([]byte("seed"))})
	if err == nil {
		err = records.CreateEntity(ctx, store.Entity{ID: disabledEntity, Name: "off",
			WalletID: disabledWallet})
	}
	if err == nil {
		err = records.AddAPIKey(ctx, store.APIKey{Hash: hasher.APIKey(disabledKey),
			EntityID: disabledEntity})
	}
	if err != nil {
		t.Fatalf("seeding records: %v", err)
	}
	if logs == nil {
		logs = io.Discard
	}
	return New(Options{Version: "test", MaxBodyBytes: 1 << 20,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Auth:   iam.NewAuthenticator(hasher, records, testAdminToken)})
}

type call struct {
	method, path string
	headers      map[string]string
	status       int
}

func (c call) do(t *testing.T, base string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != c.status {
		t.Fatalf("%s %s: status = %d, want %d", c.method, c.path, resp.StatusCode, c.status)
	}
	return resp
}

func TestMetricsEndpoint(t *testing.T) {
	srv := httptest.NewServer(authServer(t, nil))
	defer srv.Close()
	secretPath := "/secrets/db/" + privateNameTail
	calls := []call{
		{method: "GET", path: "/_system/health", status: 200},
		{method: "GET", path: "/_system/health", status: 200},
		{method: "GET", path: "/no/such/" + privateNameTail, status: 404},
		{method: "GET", path: secretPath, status: 401},
		{method: "GET", path: secretPath, headers: map[string]string{"apikey": unknownKey},
			status: 401},
		{method: "GET", path: secretPath, headers: map[string]string{"apikey": disabledKey},
			status: 401},
		{method: "POST", path: "/wallets", status: 401},
		{method: "POST", path: "/wallets", headers: map[string]string{"x-admin-api-key": unknownKey},
			status: 401},
	}
	var bodies []string
	for _, c := range calls {
		resp := c.do(t, srv.URL)
		if c.status == 401 {
			b, _ := io.ReadAll(resp.Body)
			var p map[string]any
			_ = json.Unmarshal(b, &p)
			bodies = append(bodies, p["detail"].(string)+"|"+p["title"].(string))
		}
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("authentication failures read differently: %q and %q", bodies[0], b)
		}
	}

	resp := call{method: "GET", path: "/_system/metrics", status: 200}.do(t, srv.URL)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
	raw, _ := io.ReadAll(resp.Body)
	for _, leak := range []string{privateNameTail, unknownKey, disabledKey, "/db/"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("the metrics contain %q: only route patterns and fixed labels belong there", leak)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}

	cases := []struct {
		name   string
		family string
		labels map[string]string
		want   float64
	}{
		{name: "ok/health by pattern", family: "prism_http_requests_total",
			labels: map[string]string{"route": "/_system/health", "method": "GET", "status": "200"},
			want:   2},
		{name: "ok/wildcard pattern not raw path", family: "prism_http_requests_total",
			labels: map[string]string{"route": "/secrets/*", "method": "GET", "status": "401"},
			want:   3},
		{name: "ok/unmatched", family: "prism_http_requests_total",
			labels: map[string]string{"route": "unmatched", "method": "GET", "status": "404"},
			want:   1},
		{name: "ok/admin route", family: "prism_http_requests_total",
			labels: map[string]string{"route": "/wallets", "method": "POST", "status": "401"},
			want:   2},
		{name: "ok/latency histogram", family: "prism_http_request_duration_seconds",
			labels: map[string]string{"route": "/_system/health", "method": "GET", "status": "200"},
			want:   2},
		{name: "fail/apikey missing", family: "prism_auth_failures_total",
			labels: map[string]string{"scheme": "apikey", "reason": "missing"}, want: 1},
		{name: "fail/apikey unknown", family: "prism_auth_failures_total",
			labels: map[string]string{"scheme": "apikey", "reason": "unknown"}, want: 1},
		{name: "fail/apikey disabled", family: "prism_auth_failures_total",
			labels: map[string]string{"scheme": "apikey", "reason": "disabled"}, want: 1},
		{name: "fail/admin missing", family: "prism_auth_failures_total",
			labels: map[string]string{"scheme": "admin", "reason": "missing"}, want: 1},
		{name: "fail/admin unknown", family: "prism_auth_failures_total",
			labels: map[string]string{"scheme": "admin", "reason": "unknown"}, want: 1},
		{name: "ok/token cache series exist", family: "prism_wallet_token_cache_requests_total",
			labels: map[string]string{"result": "miss"}, want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := sample(families[c.family], c.labels)
			if !ok {
				t.Fatalf("no series %s%v in the scrape", c.family, c.labels)
			}
			if got != c.want {
				t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
			}
		})
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Errorf("the Go runtime collector is missing")
	}
}

// sample returns the value of the series of f with exactly labels: a
// counter's value or a histogram's count.
func sample(f *dto.MetricFamily, labels map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		if h := m.GetHistogram(); h != nil {
			return float64(h.GetSampleCount()), true
		}
		return m.GetCounter().GetValue(), true
	}
	return 0, false
}
