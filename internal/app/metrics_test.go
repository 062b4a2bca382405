package app

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/prism-agent/prism-agent/internal/testenv"
)

// TestVaultMetrics runs the agent on a real Vault with AppRole and checks
// that /_system/metrics shows its secret store operations, their errors
// once Vault is gone, and the token's login.
func TestVaultMetrics(t *testing.T) {
	v := testenv.StartVaultDev(t)
	v.WritePolicy(t, "prism-agent-kv", agentPolicy(t))
	role := v.CreateAppRole(t, "approle", "prism-agent-metrics", map[string]any{
		"token_ttl": "1h", "token_policies": "prism-agent-kv",
	})
	a := startAgent(t, map[string]string{
		"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr,
		"VAULT_APPROLE_ROLE_ID": role.RoleID, "VAULT_APPROLE_SECRET_ID": role.SecretID(t),
	})
	a.expect(a.do("PUT", "/secrets/metrics/one", map[string]any{"value": "v"}), 201)
	a.expect(a.do("GET", "/secrets/metrics/one", nil), 200)
	a.expect(a.do("GET", "/secrets/metrics/none", nil), 404)

	before := scrape(t, a)
	cases := []struct {
		name   string
		family string
		labels map[string]string
		min    float64
	}{
		{name: "ok/put timed", family: "prism_vault_operation_duration_seconds",
			labels: map[string]string{"operation": "put"}, min: 1},
		{name: "ok/get timed", family: "prism_vault_operation_duration_seconds",
			labels: map[string]string{"operation": "get"}, min: 2},
		{name: "ok/approle login", family: "prism_vault_token_logins_total",
			labels: map[string]string{"result": "ok"}, min: 1},
		{name: "ok/renewals exposed", family: "prism_vault_token_renewals_total",
			labels: map[string]string{"result": "ok"}, min: 0},
		{name: "ok/tenant requests", family: "prism_http_requests_total",
			labels: map[string]string{"route": "/secrets/*", "method": "PUT", "status": "201"}, min: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := value(before[c.family], c.labels)
			if !ok || got < c.min {
				t.Errorf("%s%v = %v (present %t), want at least %v", c.family, c.labels, got, ok, c.min)
			}
		})
	}
	if f := before["prism_vault_operation_errors_total"]; f != nil && len(f.GetMetric()) > 0 {
		t.Errorf("Vault errors counted while Vault was up (a 404 is an answer): %v", f)
	}

	t.Run("fail/vault gone", func(t *testing.T) {
		v.Stop()
		r := a.do("GET", "/secrets/metrics/one", nil)
		if r.status != 503 {
			t.Fatalf("status = %d with Vault stopped, want 503", r.status)
		}
		got, ok := value(scrape(t, a)["prism_vault_operation_errors_total"],
			map[string]string{"operation": "get", "reason": "unavailable"})
		if !ok || got < 1 {
			t.Errorf("errors{get,unavailable} = %v (present %t), want at least 1", got, ok)
		}
	})
}

func scrape(t *testing.T, a *agent) map[string]*dto.MetricFamily {
	t.Helper()
	r := a.do("GET", "/_system/metrics", nil)
	if r.status != 200 {
		t.Fatalf("GET /_system/metrics: %d", r.status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.raw))
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return families
}

// value returns a counter's value or a histogram's count for the series
// with exactly labels.
func value(f *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			match = match && labels[l.GetName()] == l.GetValue()
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
