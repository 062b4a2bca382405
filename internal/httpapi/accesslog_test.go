package httpapi

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer collects the log lines of concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.b.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		out = append(out, m)
	}
	return out
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestRequestIDAndAccessLog(t *testing.T) {
	logs := &lockedBuffer{}
	srv := httptest.NewServer(New(Options{Version: "test", MaxBodyBytes: 1 << 20,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))}))
	defer srv.Close()

	cases := []struct {
		name, sent, path, route string
		status                  int
		keep                    bool
	}{
		{name: "ok/generated", path: "/_system/health", route: "/_system/health", status: 200},
		{name: "ok/honoured", sent: "gw-7f3a.b_c:1", path: "/_system/health",
			route: "/_system/health", status: 200, keep: true},
		{name: "ok/route pattern not path", sent: "did-req", path: "/dids/did:prism:zz",
			route: "/dids/{didRef}", status: 400, keep: true},
		{name: "ok/unmatched", sent: "nf-req", path: "/nothing/here", route: "unmatched",
			status: 404, keep: true},
		{name: "fail/too long", sent: strings.Repeat("a", 65), path: "/_system/health",
			route: "/_system/health", status: 200},
		{name: "fail/space", sent: "a b", path: "/_system/health", route: "/_system/health",
			status: 200},
		{name: "fail/quote", sent: `a"b`, path: "/_system/health", route: "/_system/health",
			status: 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
			if c.sent != "" {
				req.Header.Set("X-Request-Id", c.sent)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, c.status)
			}
			got := resp.Header.Get("X-Request-Id")
			switch {
			case c.keep && got != c.sent:
				t.Fatalf("X-Request-Id = %q, want the client's %q", got, c.sent)
			case !c.keep && !generatedID.MatchString(got):
				t.Fatalf("X-Request-Id = %q, want a generated id", got)
			}
			line := accessLine(t, logs, got)
			if line == nil {
				t.Fatalf("no access line with request_id %q", got)
			}
			want := map[string]any{"method": "GET", "route": c.route, "status": float64(c.status),
				"msg": "http request"}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("access line %s = %v, want %v", k, line[k], v)
				}
			}
			if _, ok := line["duration"].(float64); !ok {
				t.Errorf("access line has no duration: %v", line)
			}
		})
	}
}

func accessLine(t *testing.T, logs *lockedBuffer, id string) map[string]any {
	t.Helper()
	for _, l := range logs.lines(t) {
		if l["msg"] == "http request" && l["request_id"] == id {
			return l
		}
	}
	return nil
}
