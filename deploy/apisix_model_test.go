package deploy

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"

	"github.com/prism-agent/prism-agent/api"
)

// publicPrefix is the path under which APISIX exposes the agent; the
// compose file must give the agent the same AGENT_HTTP_PUBLIC_PREFIX.
const publicPrefix = "/prism"

// apisixFile is the part of APISIX's standalone apisix.yaml that the routes
// of this project use. It is decoded strictly: a field the model does not
// know (a typo, or a feature such as hosts or vars that the checks below
// would not understand) fails the test instead of being ignored.
type apisixFile struct {
	Upstreams []apisixUpstream `yaml:"upstreams"`
	Consumers []apisixConsumer `yaml:"consumers"`
	Routes    []*apisixRoute   `yaml:"routes"`
}

type apisixUpstream struct {
	ID      string         `yaml:"id"`
	Type    string         `yaml:"type"`
	Nodes   map[string]int `yaml:"nodes"`
	Timeout map[string]int `yaml:"timeout"`
}

type apisixConsumer struct {
	Username string `yaml:"username"`
	Plugins  struct {
		KeyAuth *struct {
			Key string `yaml:"key"`
		} `yaml:"key-auth"`
	} `yaml:"plugins"`
}

type apisixRoute struct {
	ID         string       `yaml:"id"`
	Desc       string       `yaml:"desc"`
	URI        string       `yaml:"uri"`
	URIs       []string     `yaml:"uris"`
	Methods    []string     `yaml:"methods"`
	UpstreamID string       `yaml:"upstream_id"`
	Plugins    routePlugins `yaml:"plugins"`

	rewrites  []uriRewrite // compiled from Plugins.ProxyRewrite.RegexURI
	pluginSet []string     // names of the plugins configured, sorted
}

type routePlugins struct {
	RequestID *struct {
		HeaderName        string `yaml:"header_name"`
		IncludeInResponse bool   `yaml:"include_in_response"`
	} `yaml:"request-id"`
	KeyAuth *struct {
		Header          string `yaml:"header"`
		Query           string `yaml:"query"`
		HideCredentials bool   `yaml:"hide_credentials"`
	} `yaml:"key-auth"`
	ConsumerRestriction *struct {
		Type         string   `yaml:"type"`
		Whitelist    []string `yaml:"whitelist"`
		RejectedCode int      `yaml:"rejected_code"`
	} `yaml:"consumer-restriction"`
	LimitCount *struct {
		Count                int    `yaml:"count"`
		TimeWindow           int    `yaml:"time_window"`
		KeyType              string `yaml:"key_type"`
		Key                  string `yaml:"key"`
		Policy               string `yaml:"policy"`
		RejectedCode         int    `yaml:"rejected_code"`
		RejectedMsg          string `yaml:"rejected_msg"`
		ShowLimitQuotaHeader bool   `yaml:"show_limit_quota_header"`
	} `yaml:"limit-count"`
	LimitReq *struct {
		Rate         float64 `yaml:"rate"`
		Burst        float64 `yaml:"burst"`
		Key          string  `yaml:"key"`
		RejectedCode int     `yaml:"rejected_code"`
	} `yaml:"limit-req"`
	ProxyRewrite *struct {
		RegexURI []string `yaml:"regex_uri"`
		Headers  struct {
			Add    map[string]string `yaml:"add"`
			Set    map[string]string `yaml:"set"`
			Remove []string          `yaml:"remove"`
		} `yaml:"headers"`
	} `yaml:"proxy-rewrite"`
}

// uriRewrite is one pair of proxy-rewrite's regex_uri.
type uriRewrite struct {
	re       *regexp.Regexp
	template string // in Go's Expand syntax
}

// loadAPISIX reads and checks the shape of apisix.yaml.
func loadAPISIX(t *testing.T, path string) *apisixFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	// APISIX reloads the file only when it ends with this mark.
	if !bytes.HasSuffix(bytes.TrimRight(raw, "\n"), []byte("\n#END")) {
		t.Fatalf("%s must end with a line #END, or APISIX never loads it", path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var f apisixFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v (the test models the fields the routes use; extend apisixFile in "+
			"deploy/apisix_model_test.go together with its checks for a new one)", path, err)
	}
	// The plugins' names, whatever the model knows of them.
	var generic struct {
		Routes []struct {
			Plugins map[string]any `yaml:"plugins"`
		} `yaml:"routes"`
	}
	if err := yaml.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for i, r := range f.Routes {
		if r.URI != "" {
			r.URIs = append([]string{r.URI}, r.URIs...)
		}
		for _, u := range r.URIs {
			if err := checkURIPattern(u); err != nil {
				t.Fatalf("route %s: %v", r.ID, err)
			}
		}
		for name := range generic.Routes[i].Plugins {
			r.pluginSet = append(r.pluginSet, name)
		}
		slices.Sort(r.pluginSet)
		if pr := r.Plugins.ProxyRewrite; pr != nil {
			if len(pr.RegexURI)%2 != 0 {
				t.Fatalf("route %s: proxy-rewrite regex_uri must hold pairs of regex and template", r.ID)
			}
			for j := 0; j < len(pr.RegexURI); j += 2 {
				re, err := regexp.Compile(pr.RegexURI[j])
				if err != nil {
					t.Fatalf("route %s: regex_uri %q: %v", r.ID, pr.RegexURI[j], err)
				}
				r.rewrites = append(r.rewrites, uriRewrite{re: re, template: goTemplate(pr.RegexURI[j+1])})
			}
		}
	}
	return &f
}

// pcreGroup is $1 in a regex_uri template (ngx.re.sub syntax).
var pcreGroup = regexp.MustCompile(`\$(\d+)`)

// goTemplate turns ngx.re.sub's "$1" into Go's "${1}", which does not
// swallow the letters that follow it.
func goTemplate(s string) string { return pcreGroup.ReplaceAllString(s, "$${$1}") }

// checkURIPattern accepts the two forms of APISIX's radixtree router the
// routes use: an exact path, or a prefix ending in "/*". Parameters
// (":name") and inner wildcards would need a matcher this test lacks.
func checkURIPattern(p string) error {
	body := strings.TrimSuffix(p, "*")
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(body, "*:") ||
		(strings.HasSuffix(p, "*") && !strings.HasSuffix(p, "/*")) {
		return fmt.Errorf("uri %q: only exact paths and prefixes ending in /* are modelled", p)
	}
	return nil
}

// matchesURI reports whether path matches one of the route's uris.
func (r *apisixRoute) matchesURI(path string) bool {
	for _, p := range r.URIs {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		} else if p == path {
			return true
		}
	}
	return false
}

// matches reports whether the route takes a request; no methods means all.
func (r *apisixRoute) matches(method, path string) bool {
	return (len(r.Methods) == 0 || slices.Contains(r.Methods, method)) && r.matchesURI(path)
}

// rewrite is the path the upstream receives, as proxy-rewrite's regex_uri
// makes it: the first pair whose regex matches replaces its first match.
func (r *apisixRoute) rewrite(path string) string {
	for _, rw := range r.rewrites {
		loc := rw.re.FindStringSubmatchIndex(path)
		if loc == nil {
			continue
		}
		out := rw.re.ExpandString(nil, rw.template, path, loc)
		return path[:loc[0]] + string(out) + path[loc[1]:]
	}
	return path
}

// hasKeyAuth reports whether the route checks the platform API token.
func (r *apisixRoute) hasKeyAuth() bool { return r.Plugins.KeyAuth != nil }

// match returns every route that takes the request. The routes are written
// so that at most one does; the checks report any overlap, because then
// APISIX's choice would depend on its matching priorities.
func (f *apisixFile) match(method, path string) []*apisixRoute {
	var out []*apisixRoute
	for _, r := range f.Routes {
		if r.matches(method, path) {
			out = append(out, r)
		}
	}
	return out
}

// operation is one method and path of the API description.
type operation struct {
	Method, Path string
	// Security names the schemes that may authenticate the operation;
	// empty when anyone may call it.
	Security []string
}

func (o operation) String() string { return o.Method + " " + o.Path }

// loadOpenAPI reads api/openapi.yaml (embedded in package api).
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.yaml does not load: %v", err)
	}
	return doc
}

// operations lists the document's operations with their effective security
// (an operation without its own inherits the document's).
func operations(doc *openapi3.T) []operation {
	var out []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			reqs := doc.Security
			if op.Security != nil {
				reqs = *op.Security
			}
			var schemes []string
			for _, req := range reqs {
				for name := range req {
					schemes = append(schemes, name)
				}
			}
			slices.Sort(schemes)
			out = append(out, operation{Method: method, Path: path, Security: slices.Compact(schemes)})
		}
	}
	slices.SortFunc(out, func(a, b operation) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// authHeaders are the request headers the agent authenticates with,
// from the document's security schemes.
func authHeaders(doc *openapi3.T) []string {
	var out []string
	for _, s := range doc.Components.SecuritySchemes {
		switch {
		case s.Value.Type == "apiKey" && s.Value.In == "header":
			out = append(out, strings.ToLower(s.Value.Name))
		case s.Value.Type == "http":
			out = append(out, "authorization")
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pathParam is a {name} of a path template.
var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// samplePath fills a path template's parameters with value.
func samplePath(template, value string) string {
	return pathParam.ReplaceAllLiteralString(template, value)
}
