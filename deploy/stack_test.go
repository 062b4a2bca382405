package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/prism-agent/prism-agent/internal/testenv"
)

// startWait bounds how long a server may take to answer after it starts;
// generous because race builds share two cores. It is a wait, not an
// assertion about speed.
const startWait = 90 * time.Second

// stack runs the compose stack's services as plain processes: the same
// commands, scripts and environment as compose.yaml gives them, with each
// named volume a folder, and the real Vault and PostgreSQL of the tests in
// place of the vault and postgres containers.
type stack struct {
	t       *testing.T
	project *types.Project
	dir     string
	bin     string // folder with prism-agent and vault
	// replace maps compose-network addresses and names to local ones in
	// environment values.
	replace *strings.Replacer
	// override sets variables after compose's, per service.
	override map[string]map[string]string
}

// volumePath is where a named volume lives in this test.
func (s *stack) volumePath(name string) string { return filepath.Join(s.dir, "volumes", name) }

// hostPath maps a container path of a service to this machine: a bind
// mount to its source, a named volume to its folder.
func (s *stack) hostPath(svc types.ServiceConfig, p string) (string, bool) {
	m, ok := mountFor(svc, p)
	if !ok {
		return "", false
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(p, m.Target), "/")
	if m.Type == types.VolumeTypeBind {
		return filepath.Join(m.Source, rest), true
	}
	return filepath.Join(s.volumePath(m.Source), rest), true
}

// command returns a service's entrypoint and command, with mounted scripts
// mapped to their files, and its environment: the image's ENV (agent image
// only), then compose's, with container paths and addresses mapped.
func (s *stack) command(name string, imageEnv map[string]string) *exec.Cmd {
	s.t.Helper()
	svc, ok := s.project.Services[name]
	if !ok {
		s.t.Fatalf("compose.yaml has no service %s", name)
	}
	args := append(slices.Clone([]string(svc.Entrypoint)), svc.Command...)
	for i, a := range args {
		if hp, ok := s.hostPath(svc, a); ok && i > 0 {
			args[i] = hp
		}
	}
	if len(args) > 0 && args[0] == "/bin/sh" {
		args[0] = "sh"
	}
	vars := map[string]string{}
	for k, v := range imageEnv {
		vars[k] = v
	}
	for k := range svc.Environment {
		vars[k] = env(svc, k)
	}
	for k, v := range vars {
		if strings.HasPrefix(v, "/") {
			if hp, ok := s.hostPath(svc, v); ok {
				v = hp
			}
		}
		vars[k] = s.replace.Replace(v)
	}
	for k, v := range s.override[name] {
		vars[k] = v
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=" + s.bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + s.dir}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// run runs a one-shot service to completion and returns its standard error.
func (s *stack) run(name string, imageEnv map[string]string) string {
	s.t.Helper()
	cmd := s.command(name, imageEnv)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("service %s (%s): %v\n%s", name, strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return stderr.String()
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// process is a long-running service.
type process struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

func start(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", strings.Join(cmd.Args, " "), err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
	return p
}

// stop ends the process with SIGTERM, then SIGKILL, and waits for it.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitHTTP polls url until it answers with want (any status when want is
// 0), failing when the process exits first or startWait passes.
func waitHTTP(t *testing.T, p *process, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(startWait)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before %s answered:\n%s", p.cmd.Args[0], url, p.out.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want == 0 || resp.StatusCode == want {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within %s (last: %s):\n%s", url, want, startWait, last,
		p.out.String())
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// buildAgent builds prism-agent the way the Dockerfile does: static, with
// CGO_ENABLED=0 and -trimpath.
func buildAgent(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "prism-agent"),
		"../cmd/prism-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build -trimpath ./cmd/prism-agent: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "prism-agent"), "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("prism-agent version: %v %s", err, out)
	}
}

// startVaultServer starts an uninitialised Vault server with file storage,
// like the compose stack's vault service, and waits until it answers.
func startVaultServer(t *testing.T, bin, dir, listen string) *process {
	t.Helper()
	hcl := fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr      = "http://%s"
disable_mlock = true
log_level     = "warn"
`, filepath.Join(dir, "vault-data"), listen, listen)
	cfg := filepath.Join(dir, "vault.hcl")
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, exec.Command(filepath.Join(bin, "vault"), "server", "-config="+cfg))
	waitHTTP(t, p, "http://"+listen+"/v1/sys/health", 0)
	return p
}

func psql(t *testing.T, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("psql", append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1",
		testenv.PostgresAdminURL()}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Fatalf("psql is missing: install postgresql-client (it runs postgres-init.sql)")
		}
		t.Fatalf("psql %v: %v\n%s", args, err, out)
	}
}

// createDatabase runs postgres-init.sql as the postgres image does, with
// the role and database names made unique, and returns the names.
func createDatabase(t *testing.T, pgEnv []string) (owner, agent, db string) {
	t.Helper()
	suffix := randomHex(t, 4)
	owner, agent, db = "prism_owner_"+suffix, "prism_agent_"+suffix, "prism_"+suffix
	raw, err := os.ReadFile("compose/postgres-init.sql")
	if err != nil {
		t.Fatal(err)
	}
	sql := strings.NewReplacer("prism_owner", owner, "prism_agent", agent,
		"DATABASE prism ", "DATABASE "+db+" ").Replace(string(raw))
	if strings.Count(sql, db) < 3 {
		t.Fatalf("postgres-init.sql no longer names the database prism as this test expects")
	}
	file := filepath.Join(t.TempDir(), "init.sql")
	if err := os.WriteFile(file, []byte(sql), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		psql(t, nil, "-c", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		psql(t, nil, "-c", "DROP ROLE IF EXISTS "+owner, "-c", "DROP ROLE IF EXISTS "+agent)
	})
	psql(t, pgEnv, "-f", file)
	return owner, agent, db
}

// TestComposeStackWithoutContainers runs what `docker compose up` runs, as
// processes: vault-init.sh against a real Vault server (initialise, unseal,
// unseal again after a restart), postgres-init.sql against the real
// PostgreSQL, bootstrap.sh with the static binary the Dockerfile builds,
// the agent through with-env.sh with compose's environment, and APISIX's
// routes in front of it (see gateway). Then it walks the README's Phase 4
// steps through the gateway. Docker itself is not needed, and not tested.
func TestComposeStackWithoutContainers(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	buildAgent(t, bin)
	if err := os.Symlink(testenv.VaultBin(t), filepath.Join(bin, "vault")); err != nil {
		t.Fatal(err)
	}
	project := loadCompose(t, composeEnv)
	for name := range project.Volumes {
		if err := os.MkdirAll(filepath.Join(dir, "volumes", name), 0o700); err != nil {
			t.Fatal(err)
		}
	}

	var pgEnv []string
	for _, k := range []string{"PRISM_DB_OWNER_PASSWORD", "PRISM_DB_AGENT_PASSWORD"} {
		pgEnv = append(pgEnv, k+"="+env(project.Services["postgres"], k))
	}
	owner, agentRole, db := createDatabase(t, pgEnv)
	pg, err := url.Parse(testenv.PostgresAdminURL())
	if err != nil {
		t.Fatal(err)
	}

	vaultListen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	agentPort := strconv.Itoa(freePort(t))
	s := &stack{t: t, project: project, dir: dir, bin: bin,
		replace: strings.NewReplacer("http://vault:8200", "http://"+vaultListen,
			"@postgres:5432/prism?", "@"+pg.Host+"/"+db+"?",
			"//prism_owner:", "//"+owner+":", "//prism_agent:", "//"+agentRole+":"),
		override: map[string]map[string]string{
			// chown to this test's own uid, which it may do also when not root.
			"vault-init": {"PRISM_TOKEN_OWNER": strconv.Itoa(os.Getuid())},
			"agent":      {"AGENT_HTTP_HOST": "127.0.0.1", "AGENT_HTTP_PORT": agentPort},
		},
	}
	stages, err := parseDockerfile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	imageEnv := stages[len(stages)-1].envOf()

	// vault-init: initialise and unseal, nothing on a second run, unseal
	// after a restart.
	{
		vault := startVaultServer(t, bin, dir, vaultListen)
		if out := s.run("vault-init", nil); !strings.Contains(out, "Vault initialised") ||
			!strings.Contains(out, "Vault unsealed") {
			t.Fatalf("first run: %s", out)
		}
		keys := s.volumePath("vault-keys")
		for _, f := range []string{"unseal-key", "root-token"} {
			st, err := os.Stat(filepath.Join(keys, f))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v, mode %v; want mode 0600", f, err, st)
			}
		}
		if out := s.run("vault-init", nil); strings.Contains(out, "initialised") ||
			strings.Contains(out, "unsealed") {
			t.Fatalf("second run on an unsealed Vault changed something: %s", out)
		}
		// A restarted Vault is sealed; the next `compose up` unseals it.
		vault.stop()
		startVaultServer(t, bin, dir, vaultListen)
		if out := s.run("vault-init", nil); !strings.Contains(out, "Vault unsealed") ||
			strings.Contains(out, "initialised") {
			t.Fatalf("run after a restart: %s", out)
		}
	}

	run := s.volumePath("prism-run")
	// bootstrap: settings and secret id, idempotent, a new secret id when the
	// volume lost it.
	var secretID string
	{
		s.run("bootstrap", imageEnv)
		settings := readFile(t, filepath.Join(run, "agent.env"))
		secretID = strings.TrimSpace(readFile(t, filepath.Join(run, "secret-id")))
		for _, want := range []string{"SECRET_STORAGE_BACKEND=vault\n",
			"PRISM_WALLET_VAULT_AUTH=token-role\n", "VAULT_ADDR=http://" + vaultListen + "\n",
			"VAULT_APPROLE_ROLE_ID="} {
			if !strings.Contains(settings, want) {
				t.Errorf("agent.env lacks %q:\n%s", want, settings)
			}
		}
		if secretID == "" || strings.Contains(settings, secretID) {
			t.Fatalf("the secret id must be in secret-id only, not in agent.env")
		}
		if st, _ := os.Stat(filepath.Join(run, "secret-id")); st.Mode().Perm() != 0o600 {
			t.Fatalf("secret-id mode %v, want 0600", st.Mode().Perm())
		}

		// Again: Vault is configured, the secret id kept.
		s.run("bootstrap", imageEnv)
		if got := strings.TrimSpace(readFile(t, filepath.Join(run, "secret-id"))); got != secretID {
			t.Fatalf("a second bootstrap replaced the secret id")
		}
		// The volume lost the secret id: bootstrap issues a new one.
		if err := os.Remove(filepath.Join(run, "secret-id")); err != nil {
			t.Fatal(err)
		}
		s.run("bootstrap", imageEnv)
		secretID = strings.TrimSpace(readFile(t, filepath.Join(run, "secret-id")))
		if secretID == "" {
			t.Fatal("bootstrap issued no new secret id for an empty volume")
		}
	}

	agent := start(t, s.command("agent", imageEnv))
	agentURL := "http://127.0.0.1:" + agentPort
	waitHTTP(t, agent, agentURL+"/_system/ready", http.StatusOK)

	gwEnv := map[string]string{}
	for k := range project.Services["apisix"].Environment {
		gwEnv[k] = env(project.Services["apisix"], k)
	}
	gw := httptest.NewServer(newGateway(t, loadAPISIX(t, apisixRoutesFile), gwEnv, agentURL))
	t.Cleanup(gw.Close)
	c := &client{t: t, base: gw.URL}
	app := "x-platform-key: " + composeEnv["PRISM_PLATFORM_API_KEY"]
	op := "x-platform-key: " + composeEnv["PRISM_OPERATOR_PLATFORM_KEY"]
	admin := "x-admin-api-key: " + composeEnv["PRISM_ADMIN_TOKEN"]
	tenant := "apikey: tenant-key-" + randomHex(t, 8)

	t.Run("gateway", func(t *testing.T) {
		c := c.on(t)
		c.expect(200, "GET", "/prism/_system/ready", nil)
		c.expect(200, "GET", "/prism/docs/openapi.yaml", nil)
		c.expect(404, "GET", "/prism/_system/metrics", nil)
		c.expect(404, "GET", "/secrets", nil, app)
		c.expect(401, "GET", "/prism/wallets", nil, admin)
		c.expect(401, "GET", "/prism/wallets", nil, admin, "x-platform-key: wrong-key-0123456789")
		c.expect(403, "POST", "/prism/wallets", map[string]any{"name": "x"}, app, admin)
		// The agent still checks its own credentials behind the gateway.
		c.expect(401, "GET", "/prism/wallets", nil, op)
	})

	t.Run("phase 4 walkthrough", func(t *testing.T) {
		c := c.on(t)
		w := c.expect(201, "POST", "/prism/wallets", map[string]any{"name": "acme"}, op, admin)
		e := c.expect(201, "POST", "/prism/iam/entities",
			map[string]any{"name": "acme-app", "walletId": w["id"]}, op, admin)
		if e["self"] != "/prism/iam/entities/"+e["id"].(string) {
			t.Fatalf("entity self = %v, want it under /prism", e["self"])
		}
		c.expect(201, "POST", "/prism/iam/apikey-authentication",
			map[string]any{"entityId": e["id"], "apiKey": strings.TrimPrefix(tenant, "apikey: ")}, op, admin)

		c.expect(401, "PUT", "/prism/secrets/db-password", map[string]any{"value": "s3cret"}, tenant)
		names := []string{"db-password", "api/token", "api/refresh"}
		for _, n := range names {
			c.expect(201, "PUT", "/prism/secrets/"+n, map[string]any{"value": "v-" + n}, app, tenant)
		}
		got := c.expect(200, "GET", "/prism/secrets/db-password", nil, app, tenant)
		if got["value"] != "v-db-password" {
			t.Fatalf("secret = %v", got)
		}

		seen := map[string]bool{}
		link := "/prism/secrets?limit=1"
		for pages := 0; link != ""; pages++ {
			if pages > len(names) {
				t.Fatalf("more pages than secrets; last link %s", link)
			}
			p := c.expect(200, "GET", link, nil, app, tenant)
			if pages == 0 && (p["self"] != "/prism/secrets?offset=0&limit=1" ||
				p["next"] != "/prism/secrets?offset=1&limit=1") {
				t.Fatalf("first page links: self %v, next %v", p["self"], p["next"])
			}
			for _, it := range p["contents"].([]any) {
				seen[it.(map[string]any)["name"].(string)] = true
			}
			link, _ = p["next"].(string)
		}
		for _, n := range names {
			if !seen[n] {
				t.Errorf("%s missing when following next: %v", n, seen)
			}
		}

		did := c.expect(201, "POST", "/prism/did-registrar/dids", map[string]any{
			"documentTemplate": map[string]any{"publicKeys": []any{
				map[string]any{"id": "auth-1", "purpose": "authentication"}},
				"services": []any{}, "contexts": []any{}}}, app, tenant)
		long, _ := did["longFormDid"].(string)
		if long == "" {
			t.Fatalf("no longFormDid: %v", did)
		}
		// DID resolution is public: no platform token, no tenant key.
		c.expect(200, "GET", "/prism/dids/"+long, nil)
	})

	t.Run("no secret in the logs", func(t *testing.T) {
		logs := agent.out.String()
		root := strings.TrimSpace(readFile(t, filepath.Join(s.volumePath("vault-keys"), "root-token")))
		for name, v := range map[string]string{"secret id": secretID, "root token": root,
			"admin token": composeEnv["PRISM_ADMIN_TOKEN"], "tenant key": tenant[len("apikey: "):],
			"platform key": composeEnv["PRISM_PLATFORM_API_KEY"]} {
			if strings.Contains(logs, v) {
				t.Errorf("the agent's output contains the %s", name)
			}
		}
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// client sends JSON requests through the gateway.
type client struct {
	t    *testing.T
	base string
}

func (c *client) on(t *testing.T) *client { return &client{t: t, base: c.base} }

// expect sends a request with headers ("Name: value") and fails unless
// the status is want; it returns the JSON body.
func (c *client) expect(want int, method, path string, body any, headers ...string) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}
