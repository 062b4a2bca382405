package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"testing"
)

// gateway answers requests as APISIX does with apisix.yaml, for the
// plugins the routes use: route matching by uri and method, key-auth with
// the consumers' keys (hide_credentials), consumer-restriction, request-id
// and proxy-rewrite (regex_uri, header removal). limit-count is not
// emulated; its configuration is checked in apisix_test.go.
type gateway struct {
	f         *apisixFile
	consumers map[string]string // platform key -> consumer username
	proxy     *httputil.ReverseProxy
}

// envRefAnywhere is ${{NAME}} or ${{NAME:=default}} inside a value.
var envRefAnywhere = regexp.MustCompile(`\$\{\{([A-Za-z_][A-Za-z0-9_]*)(?::=([^}]*))?\}\}`)

// resolveEnv substitutes APISIX's environment references as APISIX does
// when it loads apisix.yaml.
func resolveEnv(t *testing.T, s string, env map[string]string) string {
	t.Helper()
	return envRefAnywhere.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRefAnywhere.FindStringSubmatch(ref)
		if v, ok := env[m[1]]; ok {
			return v
		}
		if m[2] != "" {
			return m[2]
		}
		t.Fatalf("apisix.yaml needs %s, which the apisix service does not set", m[1])
		return ""
	})
}

func newGateway(t *testing.T, f *apisixFile, env map[string]string, upstream string) *gateway {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{f: f, consumers: map[string]string{}}
	for _, c := range f.Consumers {
		g.consumers[resolveEnv(t, c.Plugins.KeyAuth.Key, env)] = c.Username
	}
	g.proxy = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		path := r.Out.URL.Path
		r.SetURL(target)
		r.Out.URL.Path, r.Out.URL.RawPath = path, ""
	}}
	return g
}

func gatewayError(w http.ResponseWriter, status int, key, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{key: msg})
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	routes := g.f.match(r.Method, r.URL.Path)
	if len(routes) != 1 {
		gatewayError(w, http.StatusNotFound, "error_msg", "404 Route Not Found")
		return
	}
	rt := routes[0]
	out := r.Clone(r.Context())
	q := out.URL.Query()

	if ka := rt.Plugins.KeyAuth; ka != nil {
		key := r.Header.Get(ka.Header)
		if key == "" {
			key = q.Get(ka.Query)
		}
		consumer, ok := g.consumers[key]
		switch {
		case key == "":
			gatewayError(w, http.StatusUnauthorized, "message", "Missing API key in request")
			return
		case !ok:
			gatewayError(w, http.StatusUnauthorized, "message", "Invalid API key in request")
			return
		}
		if ka.HideCredentials {
			out.Header.Del(ka.Header)
			q.Del(ka.Query)
		}
		if cr := rt.Plugins.ConsumerRestriction; cr != nil && !slices.Contains(cr.Whitelist, consumer) {
			gatewayError(w, cr.RejectedCode, "message", "The consumer_name is forbidden.")
			return
		}
		out.Header.Set("X-Consumer-Username", consumer)
	}
	if rid := rt.Plugins.RequestID; rid != nil {
		id := r.Header.Get(rid.HeaderName)
		if id == "" {
			var b [16]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
			out.Header.Set(rid.HeaderName, id)
		}
		if rid.IncludeInResponse {
			w.Header().Set(rid.HeaderName, id)
		}
	}
	if pr := rt.Plugins.ProxyRewrite; pr != nil {
		for _, h := range pr.Headers.Remove {
			out.Header.Del(h)
		}
	}
	out.URL.Path, out.URL.RawPath = rt.rewrite(r.URL.Path), ""
	out.URL.RawQuery = q.Encode()
	g.proxy.ServeHTTP(w, out)
}
