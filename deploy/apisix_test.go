package deploy

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
)

const (
	apisixRoutesFile = "apisix/apisix.yaml"
	apisixConfigFile = "apisix/config.yaml"
)

// notRouted are the operations the gateway must not expose, and why.
var notRouted = map[string]string{
	"GET /_system/metrics": "Prometheus scrapes the agent directly on the internal network",
}

// publicURIs are the only uris a route without key-auth may have: liveness
// and readiness, the API page and document, DID resolution and the token
// endpoint of Phase 3.
var publicURIs = []string{
	publicPrefix + "/_system/health",
	publicPrefix + "/_system/ready",
	publicPrefix + "/docs",
	publicPrefix + "/docs/*",
	publicPrefix + "/dids/*",
	publicPrefix + "/oauth2/token",
}

// consumerHeaders are the headers APISIX's auth plugins add for the
// upstream; every route removes them, so that neither APISIX nor a client
// can hand the agent a consumer identity.
var consumerHeaders = []string{
	"X-Consumer-Username",
	"X-Credential-Identifier",
	"X-Consumer-Custom-Id",
	"X-Consumer-Id",
}

// samples fill path parameters: one segment, and several (secret names
// have slashes), so that a wildcard route is checked at depth too.
var samples = []string{"sample", "a/b/c"}

// coverageProblems checks that every operation of the document is reachable
// through exactly one route, at the right path, and that every route
// reaches some operation.
func coverageProblems(f *apisixFile, ops []operation) []string {
	var problems []string
	used := map[*apisixRoute]bool{}
	for _, op := range ops {
		external := publicPrefix + samplePath(op.Path, samples[0])
		routes := f.match(op.Method, external)
		if why, ok := notRouted[op.String()]; ok {
			if len(routes) > 0 {
				problems = append(problems, fmt.Sprintf("%s must not be routed (%s), but route %s "+
					"takes %s", op, why, routes[0].ID, external))
			}
			continue
		}
		switch len(routes) {
		case 0:
			problems = append(problems, fmt.Sprintf("%s (api/openapi.yaml) has no route in "+
				"deploy/%s: add %s %s to a route (with key-auth unless the operation is "+
				"public), or list it in notRouted in deploy/apisix_test.go with the reason",
				op, apisixRoutesFile, op.Method, publicPrefix+op.Path))
			continue
		case 1:
		default:
			problems = append(problems, fmt.Sprintf("%s %s is taken by several routes (%s): "+
				"APISIX would pick one by priority; make them disjoint", op.Method, external,
				routeIDs(routes)))
		}
		r := routes[0]
		used[r] = true
		if got, want := r.rewrite(external), samplePath(op.Path, samples[0]); got != want {
			problems = append(problems, fmt.Sprintf("route %s sends %s to the agent as %s, "+
				"want %s", r.ID, external, got, want))
		}
	}
	for _, r := range f.Routes {
		if !used[r] {
			problems = append(problems, fmt.Sprintf("route %s reaches no operation of "+
				"api/openapi.yaml; remove it or describe what it serves", r.ID))
		}
	}
	return problems
}

// securityProblems checks that no route without key-auth reaches an
// operation that needs authentication, that such routes serve only the
// public uris, and that operator-only operations are limited to operator
// consumers.
func securityProblems(f *apisixFile, ops []operation) []string {
	var problems []string
	for _, op := range ops {
		for _, s := range samples {
			external := publicPrefix + samplePath(op.Path, s)
			for _, r := range f.match(op.Method, external) {
				if len(op.Security) > 0 && !r.hasKeyAuth() {
					problems = append(problems, fmt.Sprintf("route %s reaches %s (security: %s) "+
						"without key-auth", r.ID, op, strings.Join(op.Security, ", ")))
				}
				if slices.Equal(op.Security, []string{"adminApiKey"}) &&
					(r.Plugins.ConsumerRestriction == nil ||
						len(r.Plugins.ConsumerRestriction.Whitelist) == 0) {
					problems = append(problems, fmt.Sprintf("route %s reaches the operator-only "+
						"%s without a consumer-restriction whitelist", r.ID, op))
				}
			}
		}
	}
	for _, r := range f.Routes {
		if r.hasKeyAuth() {
			continue
		}
		for _, u := range r.URIs {
			if !slices.Contains(publicURIs, u) {
				problems = append(problems, fmt.Sprintf("route %s serves %s without key-auth; "+
					"only %s may be public", r.ID, u, strings.Join(publicURIs, ", ")))
			}
		}
	}
	return problems
}

// pluginProblems checks each route's plugins: credentials hidden, consumer
// headers removed, the agent's own authentication headers untouched, the
// token endpoint rate limited, and the plugins enabled in config.yaml.
func pluginProblems(f *apisixFile, agentHeaders, enabled []string) []string {
	var problems []string
	bad := func(r *apisixRoute, format string, a ...any) {
		problems = append(problems, "route "+r.ID+": "+fmt.Sprintf(format, a...))
	}
	upstreams := map[string]bool{}
	for _, u := range f.Upstreams {
		upstreams[u.ID] = len(u.Nodes) > 0
	}
	platformHeaders := map[string]bool{}
	for _, r := range f.Routes {
		if !upstreams[r.UpstreamID] {
			bad(r, "upstream_id %q names no upstream with nodes", r.UpstreamID)
		}
		for _, p := range r.pluginSet {
			if !slices.Contains(enabled, p) {
				bad(r, "plugin %s is not in the plugins list of %s, so APISIX does not load it",
					p, apisixConfigFile)
			}
		}
		if rid := r.Plugins.RequestID; rid == nil || !strings.EqualFold(rid.HeaderName, "X-Request-Id") {
			bad(r, "request-id must set X-Request-Id, which the agent logs as request_id")
		}
		if ka := r.Plugins.KeyAuth; ka != nil {
			if !ka.HideCredentials {
				bad(r, "key-auth must hide_credentials, or the platform token reaches the agent")
			}
			if ka.Header == "" || slices.Contains(agentHeaders, strings.ToLower(ka.Header)) {
				bad(r, "key-auth header %q must be set and differ from the agent's own "+
					"authentication headers %v (key-auth's default is apikey)", ka.Header, agentHeaders)
			}
			if ka.Query == "" || slices.Contains(agentHeaders, strings.ToLower(ka.Query)) {
				bad(r, "key-auth query %q must be set and differ from %v", ka.Query, agentHeaders)
			}
			platformHeaders[strings.ToLower(ka.Header)] = true
		}
		pr := r.Plugins.ProxyRewrite
		if pr == nil {
			bad(r, "has no proxy-rewrite: it must strip %s and the consumer headers", publicPrefix)
			continue
		}
		removed := map[string]bool{}
		for _, h := range pr.Headers.Remove {
			removed[strings.ToLower(h)] = true
		}
		for _, h := range consumerHeaders {
			if !removed[strings.ToLower(h)] {
				bad(r, "proxy-rewrite must remove %s", h)
			}
		}
		for _, h := range agentHeaders {
			_, set := pr.Headers.Set[h]
			_, add := pr.Headers.Add[h]
			for k := range pr.Headers.Set {
				set = set || strings.EqualFold(k, h)
			}
			for k := range pr.Headers.Add {
				add = add || strings.EqualFold(k, h)
			}
			if removed[h] || set || add {
				bad(r, "proxy-rewrite must pass the agent's %s header through untouched", h)
			}
		}
		if r.matches("POST", publicPrefix+"/oauth2/token") {
			lc, lr := r.Plugins.LimitCount, r.Plugins.LimitReq
			switch {
			case lc != nil && lc.Count > 0 && lc.TimeWindow > 0 && lc.RejectedCode == 429:
			case lr != nil && lr.Rate > 0 && lr.RejectedCode == 429:
			default:
				bad(r, "POST /oauth2/token needs limit-count or limit-req answering 429")
			}
		}
	}
	// Removal of the platform header is checked for every route, also the
	// public ones, where key-auth does not hide it.
	for _, r := range f.Routes {
		if r.Plugins.ProxyRewrite == nil {
			continue
		}
		for h := range platformHeaders {
			if !slices.ContainsFunc(r.Plugins.ProxyRewrite.Headers.Remove,
				func(s string) bool { return strings.EqualFold(s, h) }) {
				bad(r, "proxy-rewrite must remove the platform token header %s", h)
			}
		}
	}
	if len(platformHeaders) > 1 {
		problems = append(problems, fmt.Sprintf("key-auth uses several headers %v; use one",
			platformHeaders))
	}
	return problems
}

// envRef is APISIX's ${{NAME}} or ${{NAME:=default}} in a configuration file.
var envRef = regexp.MustCompile(`^\$\{\{([A-Za-z_][A-Za-z0-9_]*)(:=[^}]*)?\}\}$`)

// consumerProblems checks that keys come from the environment (never
// written in the file), are passed to the nginx workers, and that
// consumer-restriction names existing consumers.
func consumerProblems(f *apisixFile, envs []string) []string {
	var problems []string
	names := map[string]bool{}
	for _, c := range f.Consumers {
		if names[c.Username] {
			problems = append(problems, "consumer "+c.Username+" is defined twice")
		}
		names[c.Username] = true
		if c.Plugins.KeyAuth == nil {
			problems = append(problems, "consumer "+c.Username+" has no key-auth key")
			continue
		}
		m := envRef.FindStringSubmatch(c.Plugins.KeyAuth.Key)
		switch {
		case m == nil:
			problems = append(problems, "consumer "+c.Username+": the key must be an "+
				"environment reference ${{NAME}}, never a value in the file")
		case m[2] != "":
			problems = append(problems, "consumer "+c.Username+": the key must not have a default")
		case !slices.Contains(envs, m[1]):
			problems = append(problems, fmt.Sprintf("consumer %s: %s is not in nginx_config.envs "+
				"of %s, so the workers cannot read it", c.Username, m[1], apisixConfigFile))
		}
	}
	for _, r := range f.Routes {
		if cr := r.Plugins.ConsumerRestriction; cr != nil {
			if cr.Type != "consumer_name" || cr.RejectedCode != 403 {
				problems = append(problems, "route "+r.ID+": consumer-restriction must be "+
					"type consumer_name with rejected_code 403")
			}
			for _, n := range cr.Whitelist {
				if !names[n] {
					problems = append(problems, "route "+r.ID+": consumer-restriction names "+
						"unknown consumer "+n)
				}
			}
		}
	}
	return problems
}

func routeIDs(rs []*apisixRoute) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return strings.Join(ids, ", ")
}

// apisixConfig is the part of config.yaml the checks read.
type apisixConfig struct {
	Deployment struct {
		Role          string `yaml:"role"`
		RoleDataPlane struct {
			ConfigProvider string `yaml:"config_provider"`
		} `yaml:"role_data_plane"`
		Admin any `yaml:"admin"`
		Etcd  any `yaml:"etcd"`
	} `yaml:"deployment"`
	NginxConfig struct {
		Envs []string `yaml:"envs"`
	} `yaml:"nginx_config"`
	Plugins []string `yaml:"plugins"`
}

func loadAPISIXConfig(t *testing.T) apisixConfig {
	t.Helper()
	raw, err := os.ReadFile(apisixConfigFile)
	if err != nil {
		t.Fatalf("reading %s: %v", apisixConfigFile, err)
	}
	var c apisixConfig
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", apisixConfigFile, err)
	}
	return c
}

func reportProblems(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

func TestAPISIXStandalone(t *testing.T) {
	c := loadAPISIXConfig(t)
	if c.Deployment.Role != "data_plane" || c.Deployment.RoleDataPlane.ConfigProvider != "yaml" {
		t.Errorf("%s: deployment must be role data_plane with config_provider yaml (standalone), "+
			"got %q / %q", apisixConfigFile, c.Deployment.Role, c.Deployment.RoleDataPlane.ConfigProvider)
	}
	if c.Deployment.Admin != nil || c.Deployment.Etcd != nil {
		t.Errorf("%s: a standalone data plane has no Admin API and no etcd", apisixConfigFile)
	}
	if len(c.Plugins) == 0 {
		t.Errorf("%s: list the plugins the routes use; without a list APISIX loads all", apisixConfigFile)
	}
}

func TestAPISIXRoutesCoverTheAPI(t *testing.T) {
	reportProblems(t, coverageProblems(loadAPISIX(t, apisixRoutesFile), operations(loadOpenAPI(t))))
}

func TestAPISIXPublicRoutesReachOnlyPublicOperations(t *testing.T) {
	reportProblems(t, securityProblems(loadAPISIX(t, apisixRoutesFile), operations(loadOpenAPI(t))))
}

func TestAPISIXRoutePlugins(t *testing.T) {
	c := loadAPISIXConfig(t)
	f := loadAPISIX(t, apisixRoutesFile)
	reportProblems(t, pluginProblems(f, authHeaders(loadOpenAPI(t)), c.Plugins))
	reportProblems(t, consumerProblems(f, c.NginxConfig.Envs))
}

// TestAPISIXChecksCatchMistakes shows that each check above fails on the
// mistake it is for, so that a green run means something.
func TestAPISIXChecksCatchMistakes(t *testing.T) {
	doc := loadOpenAPI(t)
	headers := authHeaders(doc)
	enabled := loadAPISIXConfig(t).Plugins
	cases := []struct {
		name   string
		change func(f *apisixFile, doc *openapi3.T)
		check  func(f *apisixFile, ops []operation) []string
		want   string
	}{
		{
			name: "fail/new API path without a route",
			change: func(_ *apisixFile, doc *openapi3.T) {
				doc.Paths.Set("/credentials/{id}", &openapi3.PathItem{Get: &openapi3.Operation{}})
			},
			check: coverageProblems,
			want:  "GET /credentials/{id} (api/openapi.yaml) has no route in deploy/apisix/apisix.yaml",
		},
		{
			name: "fail/route rewrites to the wrong path",
			change: func(f *apisixFile, _ *openapi3.T) {
				r := route(t, f, "prism-tenant")
				r.rewrites = []uriRewrite{{re: regexp.MustCompile(`^/prism/secrets`), template: "/v1"}}
			},
			check: coverageProblems,
			want:  "route prism-tenant sends /prism/secrets to the agent as /v1, want /secrets",
		},
		{
			name: "fail/two routes take one operation",
			change: func(f *apisixFile, _ *openapi3.T) {
				r := route(t, f, "prism-wallets-read")
				r.Methods = append(r.Methods, "POST")
			},
			check: coverageProblems,
			want:  "is taken by several routes",
		},
		{
			name: "fail/metrics routed",
			change: func(f *apisixFile, _ *openapi3.T) {
				r := route(t, f, "prism-system")
				r.URIs = append(r.URIs, publicPrefix+"/_system/metrics")
			},
			check: coverageProblems,
			want:  "GET /_system/metrics must not be routed",
		},
		{
			name: "fail/tenant route without key-auth",
			change: func(f *apisixFile, _ *openapi3.T) {
				route(t, f, "prism-tenant").Plugins.KeyAuth = nil
			},
			check: securityProblems,
			want:  "route prism-tenant reaches GET /secrets (security: apiKey, bearerJwt) without key-auth",
		},
		{
			name: "fail/public wildcard reaches the API",
			change: func(f *apisixFile, _ *openapi3.T) {
				r := route(t, f, "prism-did-resolution")
				r.URIs = []string{publicPrefix + "/*"}
			},
			check: securityProblems,
			want:  "route prism-did-resolution reaches GET /iam/entities/{id} (security: adminApiKey)",
		},
		{
			name: "fail/operator route open to every consumer",
			change: func(f *apisixFile, _ *openapi3.T) {
				route(t, f, "prism-iam").Plugins.ConsumerRestriction = nil
			},
			check: securityProblems,
			want:  "route prism-iam reaches the operator-only GET /iam/entities without",
		},
		{
			name: "fail/credentials not hidden",
			change: func(f *apisixFile, _ *openapi3.T) {
				route(t, f, "prism-tenant").Plugins.KeyAuth.HideCredentials = false
			},
			check: pluginCheck(headers, enabled),
			want:  "route prism-tenant: key-auth must hide_credentials",
		},
		{
			name: "fail/platform token in the agent's apikey header",
			change: func(f *apisixFile, _ *openapi3.T) {
				route(t, f, "prism-tenant").Plugins.KeyAuth.Header = "apikey"
			},
			check: pluginCheck(headers, enabled),
			want:  `route prism-tenant: key-auth header "apikey" must be set and differ`,
		},
		{
			name: "fail/consumer header kept",
			change: func(f *apisixFile, _ *openapi3.T) {
				pr := route(t, f, "prism-docs").Plugins.ProxyRewrite
				pr.Headers.Remove = slices.DeleteFunc(slices.Clone(pr.Headers.Remove),
					func(h string) bool { return h == "X-Consumer-Username" })
			},
			check: pluginCheck(headers, enabled),
			want:  "route prism-docs: proxy-rewrite must remove X-Consumer-Username",
		},
		{
			name: "fail/authorization removed",
			change: func(f *apisixFile, _ *openapi3.T) {
				pr := route(t, f, "prism-tenant").Plugins.ProxyRewrite
				pr.Headers.Remove = append(slices.Clone(pr.Headers.Remove), "authorization")
			},
			check: pluginCheck(headers, enabled),
			want:  "route prism-tenant: proxy-rewrite must pass the agent's authorization header",
		},
		{
			name: "fail/token endpoint without rate limit",
			change: func(f *apisixFile, _ *openapi3.T) {
				route(t, f, "prism-oauth2-token").Plugins.LimitCount = nil
			},
			check: pluginCheck(headers, enabled),
			want:  "route prism-oauth2-token: POST /oauth2/token needs limit-count or limit-req",
		},
		{
			name: "fail/plugin not enabled",
			change: func(f *apisixFile, _ *openapi3.T) {
				r := route(t, f, "prism-tenant")
				r.pluginSet = append(r.pluginSet, "basic-auth")
			},
			check: pluginCheck(headers, enabled),
			want:  "plugin basic-auth is not in the plugins list",
		},
		{
			name: "fail/key written in the file",
			change: func(f *apisixFile, _ *openapi3.T) {
				f.Consumers[0].Plugins.KeyAuth.Key = "plain-key-0123456789"
			},
			check: consumerCheck(loadAPISIXConfig(t).NginxConfig.Envs),
			want:  "the key must be an environment reference",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := loadAPISIX(t, apisixRoutesFile)
			doc := loadOpenAPI(t)
			if p := tc.check(f, operations(doc)); len(p) > 0 {
				t.Fatalf("the shipped files already fail this check: %v", p)
			}
			tc.change(f, doc)
			problems := tc.check(f, operations(doc))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("problems = %q, want one containing %q", problems, tc.want)
			}
		})
	}
}

func pluginCheck(headers, enabled []string) func(*apisixFile, []operation) []string {
	return func(f *apisixFile, _ []operation) []string { return pluginProblems(f, headers, enabled) }
}

func consumerCheck(envs []string) func(*apisixFile, []operation) []string {
	return func(f *apisixFile, _ []operation) []string { return consumerProblems(f, envs) }
}

func route(t *testing.T, f *apisixFile, id string) *apisixRoute {
	t.Helper()
	for _, r := range f.Routes {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no route %s in %s", id, apisixRoutesFile)
	return nil
}
