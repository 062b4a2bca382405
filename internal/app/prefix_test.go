package app

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// stripPrefixProxy is a reverse proxy in front of the agent that does what
// APISIX does with deploy/apisix/apisix.yaml: it forwards prefix/x to the
// agent's /x, query included, and answers 404 for anything else.
func stripPrefixProxy(t *testing.T, prefix, agentURL string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(agentURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, prefix)
		r.Out.URL.RawPath = ""
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix+"/") {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestLinksBehindGatewayPrefix runs the agent with AGENT_HTTP_PUBLIC_PREFIX
// behind a proxy that strips the prefix, and follows the links of a list
// through the proxy: they must carry the prefix and walk the whole list.
func TestLinksBehindGatewayPrefix(t *testing.T) {
	const prefix = "/prism"
	direct := startAgent(t, map[string]string{
		"AGENT_HTTP_PUBLIC_PREFIX": "prism/", // normalised to /prism
		"ADMIN_TOKEN":              "admin-token-0123456789",
	})
	gw := *direct
	gw.srv = stripPrefixProxy(t, prefix, direct.srv.URL)
	a := &gw

	names := []string{"links/a", "links/b", "links/c"}
	for _, n := range names {
		a.expect(a.do("PUT", prefix+"/secrets/"+n, map[string]any{"value": "v"}), 201)
	}

	t.Run("ok/first page", func(t *testing.T) {
		a := a.on(t)
		r := a.expect(a.do("GET", prefix+"/secrets?limit=1", nil), 200)
		if r.body["self"] != prefix+"/secrets?offset=0&limit=1" ||
			r.body["pageOf"] != prefix+"/secrets" ||
			r.body["next"] != prefix+"/secrets?offset=1&limit=1" || r.body["previous"] != nil {
			t.Fatalf("first page links = %s", r.raw)
		}
	})

	t.Run("ok/following next walks the list", func(t *testing.T) {
		a := a.on(t)
		seen := map[string]bool{}
		link, prev := prefix+"/secrets?limit=1", ""
		for pages := 0; link != ""; pages++ {
			if pages > len(names) {
				t.Fatalf("more pages than secrets; last link %s", link)
			}
			r := a.expect(a.do("GET", link, nil), 200)
			if pages > 0 && r.body["previous"] != prev {
				t.Fatalf("page %d: previous = %v, want %s", pages, r.body["previous"], prev)
			}
			for _, item := range r.body["contents"].([]any) {
				seen[item.(map[string]any)["name"].(string)] = true
			}
			prev = r.body["self"].(string)
			link, _ = r.body["next"].(string)
			if link != "" && !strings.HasPrefix(link, prefix+"/secrets?") {
				t.Fatalf("next link %q lacks the prefix", link)
			}
		}
		for _, n := range names {
			if !seen[n] {
				t.Errorf("%s missing from the pages: %v", n, seen)
			}
		}
	})

	t.Run("ok/entity self link", func(t *testing.T) {
		a := a.on(t)
		a.adminToken = "admin-token-0123456789"
		r := a.expect(a.do("GET", prefix+"/iam/entities?limit=1", nil), 200)
		if r.body["self"] != prefix+"/iam/entities?offset=0&limit=1" {
			t.Fatalf("self = %v", r.body["self"])
		}
		items := r.body["contents"].([]any)
		if len(items) == 0 {
			t.Fatalf("no entity listed: %s", r.raw)
		}
		e := items[0].(map[string]any)
		if e["self"] != prefix+"/iam/entities/"+e["id"].(string) {
			t.Fatalf("entity self = %v", e["self"])
		}
		a.expect(a.do("GET", e["self"].(string), nil), 200)
	})

	t.Run("fail/path without the prefix", func(t *testing.T) {
		a := a.on(t)
		if r := a.do("GET", "/secrets?limit=1", nil); r.status != http.StatusNotFound {
			t.Fatalf("GET /secrets through the gateway = %d, want 404", r.status)
		}
	})
}
