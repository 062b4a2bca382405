package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/prism-agent/prism-agent/api"
)

// wildcardOperations maps a chi wildcard route to the documented
// operations it serves: chi matches "/secrets/*" and the handler splits the
// tail, while the document names each form. A new wildcard route must be
// added here and its forms described in api/openapi.yaml.
var wildcardOperations = map[string][]string{
	"GET /secrets/*":    {"GET /secrets/{name}", "GET /secrets/{name}/metadata"},
	"PUT /secrets/*":    {"PUT /secrets/{name}"},
	"DELETE /secrets/*": {"DELETE /secrets/{name}"},
	"POST /secrets/*":   {"POST /secrets/{name}/undelete", "POST /secrets/{name}/destroy"},
}

// undocumentedRoutes are served but deliberately not operations of the
// API: the static files of the API page.
var undocumentedRoutes = map[string]bool{
	"GET /docs/assets/*": true,
}

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.yaml does not load: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("api/openapi.yaml is OpenAPI %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI 3.1 document: %v", err)
	}
}

// bareServer is a Server without stores: enough to list its routes and to
// answer the requests that fail before any store is used.
func bareServer() *Server {
	return New(Options{Version: "test", MaxBodyBytes: 1 << 20,
		Logger: slog.New(slog.DiscardHandler)})
}

// chiParam matches a chi parameter with a regular expression, "{id:[0-9]+}".
var chiParam = regexp.MustCompile(`\{([^}:]+):[^}]*\}`)

// servedOperations lists "METHOD /path/{param}" for every route, with
// wildcards expanded to their documented forms.
func servedOperations(t *testing.T, s *Server) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, rt := range s.Routes() {
		route := strings.TrimSuffix(chiParam.ReplaceAllString(rt[1], "{$1}"), "/")
		if route == "" {
			route = "/"
		}
		key := rt[0] + " " + route
		switch {
		case undocumentedRoutes[key]:
		case strings.HasSuffix(route, "*"):
			ops, ok := wildcardOperations[key]
			if !ok {
				t.Errorf("route %s is a wildcard: add the operations it serves, such as "+
					"%q, to wildcardOperations in internal/httpapi/openapi_test.go and describe "+
					"each under paths in api/openapi.yaml", key,
					rt[0]+" "+strings.TrimSuffix(route, "*")+"{name}")
			}
			for _, op := range ops {
				out[op] = true
			}
		default:
			out[key] = true
		}
	}
	return out
}

func documentedOperations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	missing, extra := routeDiff(t, doc, bareServer())
	for _, op := range missing {
		t.Errorf("%s is served but not described in api/openapi.yaml. Add it:\n%s", op, skeleton(op))
	}
	for _, op := range extra {
		t.Errorf("%s is described in api/openapi.yaml but no route serves it: remove it from the "+
			"document, or register the route in internal/httpapi/server.go (a wildcard route's "+
			"forms are listed in wildcardOperations in internal/httpapi/openapi_test.go)", op)
	}
}

// TestOpenAPIRouteDiff shows that the check above catches a route added
// without documentation and a documented route that is gone.
func TestOpenAPIRouteDiff(t *testing.T) {
	doc := loadOpenAPI(t)
	s := bareServer()
	// Compared with the diff before the change, so that this test does not
	// depend on the document being complete (the test above checks that).
	missing0, extra0 := routeDiff(t, doc, s)
	s.router.Get("/wallets/{walletId}/colour", func(http.ResponseWriter, *http.Request) {})
	doc.Paths.Set("/gone", &openapi3.PathItem{Get: &openapi3.Operation{}})
	missing, extra := routeDiff(t, doc, s)
	missing = slices.DeleteFunc(missing, func(op string) bool {
		return slices.Contains(missing0, op)
	})
	extra = slices.DeleteFunc(extra, func(op string) bool { return slices.Contains(extra0, op) })
	if !slices.Equal(missing, []string{"GET /wallets/{walletId}/colour"}) {
		t.Fatalf("missing = %q, want the new route", missing)
	}
	if !slices.Equal(extra, []string{"GET /gone"}) {
		t.Errorf("extra = %q, want the gone route", extra)
	}
	if sk := skeleton(missing[0]); !strings.Contains(sk, "  /wallets/{walletId}/colour:\n    get:") ||
		!strings.Contains(sk, "name: walletId, in: path") {
		t.Errorf("skeleton does not name the path, method and parameter:\n%s", sk)
	}
}

// routeDiff returns the operations served but not documented, and those
// documented but not served, sorted.
func routeDiff(t *testing.T, doc *openapi3.T, s *Server) (missing, extra []string) {
	t.Helper()
	documented := documentedOperations(doc)
	served := servedOperations(t, s)
	for op := range served {
		if documented[op] == nil {
			missing = append(missing, op)
		}
	}
	for op := range documented {
		if !served[op] {
			extra = append(extra, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra
}

// skeleton is the YAML to add for an undocumented operation.
func skeleton(op string) string {
	method, path, _ := strings.Cut(op, " ")
	var b strings.Builder
	fmt.Fprintf(&b, "paths:\n  %s:\n    %s:\n", path, strings.ToLower(method))
	fmt.Fprintf(&b, "      tags: [...]\n      operationId: ...\n      summary: ...\n")
	fmt.Fprintf(&b, "      security: [{apiKey: []}]   # or [{adminApiKey: []}], or [] if public\n")
	params := regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1)
	if len(params) > 0 {
		fmt.Fprintf(&b, "      parameters:\n")
		for _, p := range params {
			fmt.Fprintf(&b, "        - {name: %s, in: path, required: true, "+
				"schema: {type: string}}\n", p[1])
		}
	}
	if method == http.MethodPost || method == http.MethodPut {
		fmt.Fprintf(&b, "      requestBody:\n        content:\n          application/json:\n"+
			"            schema: {$ref: \"#/components/schemas/...\"}\n")
	}
	fmt.Fprintf(&b, "      responses:\n        \"200\": {description: ..., content: "+
		"{application/json: {schema: {$ref: \"#/components/schemas/...\"}}}}\n"+
		"        \"401\": {$ref: \"#/components/responses/Unauthorized\"}\n"+
		"        \"503\": {$ref: \"#/components/responses/Unavailable\"}\n")
	return b.String()
}

// TestOpenAPIOperations checks the conventions every operation follows, so
// that a new one cannot leave them out.
func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	for key, op := range documentedOperations(doc) {
		t.Run(key, func(t *testing.T) {
			if op.OperationID == "" || op.Summary == "" || len(op.Tags) == 0 {
				t.Errorf("operationId, summary and tags are required")
			}
			if op.Security == nil {
				t.Errorf("security must be stated: [] for a public operation")
			}
			secured := op.Security != nil && len(*op.Security) > 0
			if secured && op.Responses.Status(401) == nil {
				t.Errorf("a secured operation must describe 401: " +
					`"401": {$ref: "#/components/responses/Unauthorized"}`)
			}
			for code, ref := range op.Responses.Map() {
				checkProblemResponse(t, code, ref.Value)
			}
			if schema := okSchema(op); schema != nil && strings.HasSuffix(schema.Ref, "Page") {
				for _, name := range []string{"offset", "limit"} {
					if op.Parameters.GetByInAndName("query", name) == nil {
						t.Errorf("a list operation takes %s: "+
							`- $ref: "#/components/parameters/%s"`, name, name)
					}
				}
			}
		})
	}
}

func checkProblemResponse(t *testing.T, code string, r *openapi3.Response) {
	t.Helper()
	if code < "400" || code == "default" {
		return
	}
	if r.Content.Get("application/problem+json") == nil {
		t.Errorf("response %s must be an application/problem+json problem document", code)
	}
	if code == "503" && r.Headers["Retry-After"] == nil {
		t.Errorf("response 503 must describe the Retry-After header")
	}
}

func okSchema(op *openapi3.Operation) *openapi3.SchemaRef {
	r := op.Responses.Status(200)
	if r == nil || r.Value.Content.Get("application/json") == nil {
		return nil
	}
	return r.Value.Content.Get("application/json").Schema
}

// TestOpenAPISecurityMatchesServer sends every documented operation
// without credentials: a secured one must answer 401, a public one must
// not, so that the document's security says what the middleware does.
func TestOpenAPISecurityMatchesServer(t *testing.T) {
	doc := loadOpenAPI(t)
	srv := httptest.NewServer(bareServer())
	defer srv.Close()
	samples := map[string]string{"{walletId}": "123e4567-e89b-12d3-a456-426614174000",
		"{id}": "123e4567-e89b-12d3-a456-426614174000", "{name}": "db",
		"{didRef}": "did:prism:00"}
	ops := documentedOperations(doc)
	keys := slices.Sorted(maps.Keys(ops))
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			method, path, _ := strings.Cut(key, " ")
			for p, v := range samples {
				path = strings.ReplaceAll(path, p, v)
			}
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			secured := len(*ops[key].Security) > 0
			switch {
			case secured && resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("documented as secured, but answers %d without credentials", resp.StatusCode)
			case !secured && resp.StatusCode == http.StatusUnauthorized:
				t.Errorf("documented as public (security: []), but answers 401 without credentials")
			}
		})
	}
}
