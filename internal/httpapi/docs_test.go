package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/prism-agent/prism-agent/api"
)

func TestDocsFiles(t *testing.T) {
	srv := httptest.NewServer(bareServer())
	defer srv.Close()
	cases := []struct {
		name, path, contentType, contains string
		status                            int
	}{
		{name: "ok/page", path: "/docs", contentType: "text/html", contains: "swagger-ui-bundle.js",
			status: 200},
		{name: "ok/openapi", path: "/docs/openapi.yaml", contentType: "application/yaml",
			contains: "openapi: 3.1.0", status: 200},
		{name: "ok/bundle", path: "/docs/assets/swagger-ui-bundle.js",
			contentType: "text/javascript", contains: "SwaggerUIBundle", status: 200},
		{name: "ok/init", path: "/docs/assets/docs.js", contentType: "text/javascript",
			contains: "docs/openapi.yaml", status: 200},
		{name: "ok/css", path: "/docs/assets/swagger-ui.css", contentType: "text/css",
			contains: ".swagger-ui", status: 200},
		{name: "fail/unknown asset", path: "/docs/assets/nope.js", status: 404},
		{name: "fail/no escape", path: "/docs/assets/../index.html", status: 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, c.status)
			}
			if c.status != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.contentType) {
				t.Errorf("Content-Type = %q, want %s", ct, c.contentType)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); csp != docsCSP {
				t.Errorf("Content-Security-Policy = %q, want %q", csp, docsCSP)
			}
			if !strings.Contains(string(body), c.contains) {
				t.Errorf("body does not contain %q", c.contains)
			}
		})
	}
	t.Run("ok/openapi is the embedded document", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/docs/openapi.yaml")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if string(body) != string(api.OpenAPI) {
			t.Errorf("served document differs from api/openapi.yaml")
		}
	})
}

// chromiumPath finds the browser the page test drives.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("the API page test needs Chromium, which is not installed: " +
		"run `apt-get install -y chromium` (Debian) and test again")
	return ""
}

// browser starts a headless Chromium with a fresh profile that reaches
// nothing but the test server.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	// The bound only keeps a hung browser from holding the test run; no
	// assertion depends on it.
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 2*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancelTimeout() })
	return bctx
}

// pageEvents collects what the page asked for and what the browser
// complained about.
type pageEvents struct {
	mu       sync.Mutex
	requests []string
	problems []string
}

func (e *pageEvents) listen(ev any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		e.requests = append(e.requests, ev.Request.URL)
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 {
			e.problems = append(e.problems, "response "+strconv.FormatInt(ev.Response.Status, 10)+
				" for "+ev.Response.URL)
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			e.problems = append(e.problems, string(ev.Entry.Source)+": "+ev.Entry.Text)
		}
	case *runtime.EventExceptionThrown:
		e.problems = append(e.problems, "exception: "+ev.ExceptionDetails.Text)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			e.problems = append(e.problems, "console.error")
		}
	}
}

func TestDocsPageInBrowser(t *testing.T) {
	srv := httptest.NewServer(bareServer())
	defer srv.Close()
	ctx := browser(t)
	events := &pageEvents{}
	if err := chromedp.Listen(ctx, events.listen); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}

	const op = "#operations-system-getHealth"
	status := chromedp.CSS(op + " .live-responses-table tbody .response-col_status")
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(".opblock-summary-path")),
	)
	if err != nil {
		t.Fatalf("loading the API page: %v", err)
	}
	paths, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(".opblock-summary-path"))`+
			`.map(e => e.getAttribute("data-path"))`))
	if err != nil {
		t.Fatalf("reading the listed paths: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
		chromedp.WaitVisible(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.WaitVisible(chromedp.CSS(op+" .execute")),
		chromedp.Click(chromedp.CSS(op+" .execute")),
		chromedp.WaitVisible(status),
	)
	if err != nil {
		t.Fatalf("trying /_system/health from the page: %v", err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(status))
	if err != nil {
		t.Fatalf("reading the try-it status: %v", err)
	}

	for _, want := range []string{"/secrets/{name}", "/did-registrar/dids", "/_system/health",
		"/dids/{didRef}", "/iam/apikey-authentication"} {
		if !contains(paths, want) {
			t.Errorf("the page does not list %s; it lists %q", want, paths)
		}
	}
	if strings.TrimSpace(shown) != "200" {
		t.Errorf("try-it call to /_system/health shows status %q, want 200", shown)
	}

	events.mu.Lock()
	defer events.mu.Unlock()
	for _, u := range events.requests {
		if !strings.HasPrefix(u, srv.URL+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s, outside the agent", u)
		}
	}
	for _, p := range events.problems {
		t.Errorf("the browser reported: %s", p)
	}
	if !contains(events.requests, srv.URL+"/_system/health") {
		t.Errorf("no request to /_system/health was seen; requests: %q", events.requests)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
