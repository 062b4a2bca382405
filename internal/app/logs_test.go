package app

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestLogsCarryNoSecrets runs the whole API flow with the JSON logger the
// agent uses in production and searches every line for every secret of the
// flow, in the encodings a careless log call would produce.
func TestLogsCarryNoSecrets(t *testing.T) {
	s := newFlowSecrets(t)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(context.Background(), loadConfig(t, s.env()), "test", logger)
	if err != nil {
		t.Fatalf("starting agent: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	runFlow(t, newFlowClient(t, a, nil), s)

	out := logs.String()
	if !strings.Contains(out, `"msg":"http request"`) {
		t.Fatalf("no access log lines were written; the scan would prove nothing")
	}
	defaultSeed, _ := hex.DecodeString(s.defaultSeed)
	jwsParts := strings.Split(s.jws, ".")
	secrets := map[string]string{
		"admin token":            s.adminToken,
		"default wallet API key": s.defaultAPIKey,
		"tenant API key":         s.apiKey,
		"default seed hex":       s.defaultSeed,
		"default seed HEX":       strings.ToUpper(s.defaultSeed),
		"default seed base64":    base64.StdEncoding.EncodeToString(defaultSeed),
		"seed hex":               hex.EncodeToString(s.seed),
		"seed HEX":               strings.ToUpper(hex.EncodeToString(s.seed)),
		"seed hex prefix":        hex.EncodeToString(s.seed)[:120],
		"seed base64":            base64.StdEncoding.EncodeToString(s.seed),
		"seed base64url":         base64.RawURLEncoding.EncodeToString(s.seed),
		"mnemonic":               s.mnemonic,
		"mnemonic words 1-4":     strings.Join(strings.Fields(s.mnemonic)[:4], " "),
		"passphrase":             s.passphrase,
		"secret value 1":         s.values[0],
		"secret value 2":         s.values[1],
		"signed payload":         base64.RawURLEncoding.EncodeToString(s.payload),
		"JWS":                    s.jws,
		"JWS signature":          jwsParts[len(jwsParts)-1],
	}
	for name, v := range secrets {
		if strings.Contains(out, v) {
			t.Errorf("the logs contain the %s", name)
		}
	}

	checkAccessLines(t, out)
}

// checkAccessLines checks that every access line carries its fields, names
// the route pattern rather than the path, and that a client's request id
// is the one logged.
func checkAccessLines(t *testing.T, out string) {
	t.Helper()
	var lines int
	var sawClientID bool
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a log line is not JSON: %v", err)
		}
		if line["msg"] != "http request" {
			continue
		}
		lines++
		for _, f := range []string{"request_id", "method", "route", "status", "duration"} {
			if _, ok := line[f]; !ok {
				t.Errorf("access line without %s: %s", f, sc.Text())
			}
		}
		if route, _ := line["route"].(string); strings.Contains(route, "password") ||
			strings.Contains(route, "did:prism") {
			t.Errorf("access line logs the raw path %q instead of the route pattern", route)
		}
		if line["request_id"] == "flow-request-1" {
			sawClientID = true
			if line["route"] != "/secrets/*" || line["status"] != float64(401) {
				t.Errorf("the client's request id is on the wrong line: %s", sc.Text())
			}
		}
	}
	if lines == 0 {
		t.Fatalf("no access lines")
	}
	if !sawClientID {
		t.Errorf("the client's X-Request-Id was not logged")
	}
}
