// Package testenv starts the real servers that storage and Vault tests run
// against: PostgreSQL and HashiCorp Vault. A missing server binary or
// database is a test failure with instructions, never a skip.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// VaultVersion is the Vault release the tests are pinned to; it must match
// VAULT_VERSION in scripts/vault-bin.sh and tools/vault/go.mod.
const VaultVersion = "v1.21.0"

// vaultStartTimeout bounds how long a Vault server may take to answer its
// health endpoint; generous because -race builds share two cores.
const vaultStartTimeout = 90 * time.Second

// Vault is a Vault server process started for tests.
type Vault struct {
	// Addr is the server's address, "http://127.0.0.1:<port>".
	Addr string
	// RootToken is a root token of the server.
	RootToken string

	t         testing.TB
	bin       string
	args      []string
	listen    string
	unsealKey string // persistent servers only
	out       *lockedBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// VaultBin returns the Vault binary the tests use: $PRISM_TEST_VAULT_BIN,
// else the binary cached by scripts/vault-bin.sh, else "vault" in PATH.
// It fails the test when none exists.
func VaultBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PRISM_TEST_VAULT_BIN"); p != "" {
		if !isExecutable(p) {
			t.Fatalf("PRISM_TEST_VAULT_BIN=%s is not an executable file", p)
		}
		return p
	}
	if p := cachedVaultBin(); p != "" && isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("vault"); err == nil {
		return p
	}
	t.Fatalf("no Vault server binary: run scripts/vault-bin.sh (builds Vault %s into %s), "+
		"or set PRISM_TEST_VAULT_BIN, or put vault in PATH", VaultVersion, cachedVaultBin())
	return ""
}

func cachedVaultBin() string {
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache")
	}
	return filepath.Join(dir, "prism-agent", "vault-"+VaultVersion, "vault")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// StartVaultDev starts a Vault dev server (in-memory, unsealed, KV v2 at
// "secret") for this test only, on a free 127.0.0.1 port with a random root
// token, and stops it when the test ends.
func StartVaultDev(t testing.TB) *Vault {
	t.Helper()
	v := startDev(t)
	t.Cleanup(v.kill)
	return v
}

var shared struct {
	once sync.Once
	v    *Vault
	err  string
}

// SharedVaultDev returns a Vault dev server shared by every test of the
// test binary, started on first use. It lives as long as the test binary
// (the kernel kills it when the binary exits), so tests must not change
// global state on it: give each test its own mount with NewKVMount and
// unique names for policies and roles.
func SharedVaultDev(t testing.TB) *Vault {
	t.Helper()
	shared.once.Do(func() {
		ft := &fatalRecorder{TB: t}
		func() {
			defer func() {
				if r := recover(); r != nil && r != errFatal {
					panic(r)
				}
			}()
			shared.v = startDev(ft)
		}()
		shared.err = ft.msg
	})
	if shared.v == nil {
		t.Fatalf("shared Vault dev server did not start: %s", shared.err)
	}
	return shared.v
}

func startDev(t testing.TB) *Vault {
	t.Helper()
	bin := VaultBin(t)
	var lastErr error
	for range 3 {
		listen := freeAddr(t)
		token := "root-" + randomHex(t, 12)
		v := &Vault{
			Addr:      "http://" + listen,
			RootToken: token,
			t:         t,
			bin:       bin,
			listen:    listen,
			out:       &lockedBuffer{},
			args: []string{
				"server", "-dev",
				"-dev-root-token-id=" + token,
				"-dev-listen-address=" + listen,
				"-dev-no-store-token",
				"-log-level=warn",
			},
		}
		if lastErr = v.launch(); lastErr != nil {
			continue
		}
		if lastErr = v.waitHealthy(false); lastErr != nil {
			v.kill()
			continue
		}
		return v
	}
	t.Fatalf("starting Vault dev server: %v", lastErr)
	return nil
}

// StartVaultPersistent starts a non-dev Vault server whose file storage
// lives in t.TempDir(), initialises it with one unseal key, unseals it and
// mounts KV v2 at "secret". Stop and Start take it away and bring it back on
// the same address with its data.
func StartVaultPersistent(t testing.TB) *Vault {
	t.Helper()
	bin := VaultBin(t)
	dir := t.TempDir()
	listen := freeAddr(t)
	hcl := fmt.Sprintf(`storage "file" {
  path = %q
}
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr      = "http://%s"
disable_mlock = true
ui            = false
log_level     = "warn"
`, filepath.Join(dir, "data"), listen, listen)
	cfgPath := filepath.Join(dir, "vault.hcl")
	if err := os.WriteFile(cfgPath, []byte(hcl), 0o600); err != nil {
		t.Fatalf("writing Vault config: %v", err)
	}
	v := &Vault{
		Addr:   "http://" + listen,
		t:      t,
		bin:    bin,
		listen: listen,
		out:    &lockedBuffer{},
		args:   []string{"server", "-config=" + cfgPath},
	}
	t.Cleanup(v.kill)
	if err := v.launch(); err != nil {
		t.Fatalf("starting Vault: %v", err)
	}
	if err := v.waitResponding(); err != nil {
		t.Fatalf("starting Vault: %v", err)
	}

	c := v.newClient(t, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("initialising Vault: %v", err)
	}
	v.unsealKey = init.KeysB64[0]
	v.RootToken = init.RootToken
	if err := v.unseal(); err != nil {
		t.Fatalf("unsealing Vault: %v", err)
	}
	if err := v.waitHealthy(false); err != nil {
		t.Fatalf("starting Vault: %v", err)
	}
	v.mountKV(t, "secret")
	return v
}

// Stop kills a server started by StartVaultPersistent (or StartVaultDev,
// whose data is then lost) and waits until it has exited.
func (v *Vault) Stop() {
	v.t.Helper()
	v.kill()
}

// Start starts a stopped persistent server again on the same address and
// unseals it. Clients keep working against v.Addr.
func (v *Vault) Start() {
	v.t.Helper()
	if v.unsealKey == "" {
		v.t.Fatal("Start: only a server from StartVaultPersistent can be restarted")
	}
	var err error
	// The port may still be held for a moment by the old process's sockets.
	for range 5 {
		if err = v.launch(); err == nil {
			if err = v.waitResponding(); err == nil {
				break
			}
			v.kill()
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		v.t.Fatalf("restarting Vault: %v", err)
	}
	if err := v.unseal(); err != nil {
		v.t.Fatalf("unsealing Vault: %v", err)
	}
	if err := v.waitHealthy(true); err != nil {
		v.t.Fatalf("restarting Vault: %v", err)
	}
}

// Seal seals a server started by StartVaultPersistent; it keeps running
// and answers every request with 503 until Unseal.
func (v *Vault) Seal() {
	v.t.Helper()
	if err := v.Client(v.t).Sys().Seal(); err != nil {
		v.t.Fatalf("sealing Vault: %v", err)
	}
}

// Unseal unseals a server sealed by Seal and waits until it serves again.
func (v *Vault) Unseal() {
	v.t.Helper()
	if v.unsealKey == "" {
		v.t.Fatal("Unseal: only a server from StartVaultPersistent can be unsealed")
	}
	if err := v.unseal(); err != nil {
		v.t.Fatalf("unsealing Vault: %v", err)
	}
	if err := v.waitHealthy(true); err != nil {
		v.t.Fatalf("unsealing Vault: %v", err)
	}
}

// Client returns a new API client for the server authenticated with the
// root token.
func (v *Vault) Client(t testing.TB) *api.Client {
	t.Helper()
	return v.newClient(t, v.RootToken)
}

// NewKVMount mounts a new KV v2 engine at a random path and returns the
// path (without slashes); the mount is removed when the test ends. Tests on
// a shared server use it to keep their secrets apart.
func (v *Vault) NewKVMount(t testing.TB) string {
	t.Helper()
	mount := "kv-" + randomHex(t, 6)
	v.mountKV(t, mount)
	t.Cleanup(func() {
		// The server may be gone already (persistent tests); nothing to do then.
		_ = v.newClient(t, v.RootToken).Sys().Unmount(mount)
	})
	return mount
}

func (v *Vault) mountKV(t testing.TB, mount string) {
	t.Helper()
	c := v.Client(t)
	err := c.Sys().Mount(mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}})
	if err != nil {
		t.Fatalf("mounting KV v2 at %s: %v", mount, err)
	}
	// A fresh KV v2 mount answers writes with an "upgrading" error for a
	// moment; wait until a probe write goes through.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = c.Logical().Write(mount+"/data/testenv-probe", map[string]any{"data": map[string]any{}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("KV v2 mount %s never became writable: %v", mount, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Logical().Delete(mount + "/metadata/testenv-probe"); err != nil {
		t.Fatalf("removing KV probe in %s: %v", mount, err)
	}
}

// WritePolicy stores an ACL policy on the server.
func (v *Vault) WritePolicy(t testing.TB, name, hcl string) {
	t.Helper()
	if err := v.Client(t).Sys().PutPolicy(name, hcl); err != nil {
		t.Fatalf("writing policy %s: %v", name, err)
	}
}

// CreateToken creates a token with the given policies (without the default
// policy unless listed) and returns it.
func (v *Vault) CreateToken(t testing.TB, req *api.TokenCreateRequest) string {
	t.Helper()
	s, err := v.Client(t).Auth().Token().Create(req)
	if err != nil {
		t.Fatalf("creating token: %v", err)
	}
	return s.Auth.ClientToken
}

// EnableAppRole mounts the AppRole auth method at mount unless it is
// mounted already.
func (v *Vault) EnableAppRole(t testing.TB, mount string) {
	t.Helper()
	c := v.Client(t)
	auths, err := c.Sys().ListAuth()
	if err != nil {
		t.Fatalf("listing auth methods: %v", err)
	}
	if _, ok := auths[mount+"/"]; ok {
		return
	}
	err = c.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "approle"})
	if err != nil && !strings.Contains(err.Error(), "path is already in use") {
		t.Fatalf("enabling AppRole at %s: %v", mount, err)
	}
}

// AppRole is a role of the AppRole auth method on a test server.
type AppRole struct {
	v      *Vault
	Mount  string
	Name   string
	RoleID string
}

// CreateAppRole enables AppRole at mount if needed, writes the role with
// params (token_ttl, token_policies, ...) and reads its role id.
func (v *Vault) CreateAppRole(t testing.TB, mount, name string, params map[string]any) *AppRole {
	t.Helper()
	v.EnableAppRole(t, mount)
	c := v.Client(t)
	base := "auth/" + mount + "/role/" + name
	if _, err := c.Logical().Write(base, params); err != nil {
		t.Fatalf("writing AppRole role %s: %v", name, err)
	}
	s, err := c.Logical().Read(base + "/role-id")
	if err != nil || s == nil {
		t.Fatalf("reading role id of %s: %v", name, err)
	}
	roleID, _ := s.Data["role_id"].(string)
	return &AppRole{v: v, Mount: mount, Name: name, RoleID: roleID}
}

// SecretID generates a new secret id for the role.
func (r *AppRole) SecretID(t testing.TB) string {
	t.Helper()
	s, err := r.v.Client(t).Logical().Write("auth/"+r.Mount+"/role/"+r.Name+"/secret-id", nil)
	if err != nil || s == nil {
		t.Fatalf("generating secret id for %s: %v", r.Name, err)
	}
	id, _ := s.Data["secret_id"].(string)
	return id
}

// WrappedSecretID generates a new secret id for the role, response-wrapped
// with the given TTL, and returns the single-use wrapping token.
func (r *AppRole) WrappedSecretID(t testing.TB, ttl time.Duration) string {
	t.Helper()
	c := r.v.Client(t)
	c.SetWrappingLookupFunc(func(string, string) string { return ttl.String() })
	s, err := c.Logical().Write("auth/"+r.Mount+"/role/"+r.Name+"/secret-id", nil)
	if err != nil || s == nil || s.WrapInfo == nil {
		t.Fatalf("generating wrapped secret id for %s: %v", r.Name, err)
	}
	return s.WrapInfo.Token
}

func (v *Vault) newClient(t testing.TB, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		t.Fatalf("vault client config: %v", cfg.Error)
	}
	cfg.Address = v.Addr
	cfg.MaxRetries = 0
	cfg.Timeout = 30 * time.Second
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("vault client: %v", err)
	}
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	c.SetToken(token)
	return c
}

// launch starts the server process; it is killed with the test binary even
// if the test binary dies without running cleanups.
func (v *Vault) launch() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd != nil {
		return errors.New("vault is already running")
	}
	cmd := exec.Command(v.bin, v.args...)
	cmd.Env = vaultEnv()
	cmd.Stdout = v.out
	cmd.Stderr = v.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		return fmt.Errorf("running %s: %w", v.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	v.cmd, v.exited = cmd, exited
	return nil
}

func (v *Vault) kill() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd == nil {
		return
	}
	_ = v.cmd.Process.Kill()
	<-v.exited
	v.cmd, v.exited = nil, nil
}

// hasExited reports whether the process is gone (or was never started).
func (v *Vault) hasExited() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd == nil {
		return true
	}
	select {
	case <-v.exited:
		return true
	default:
		return false
	}
}

// waitResponding waits until the server answers sys/health at all (it may
// be sealed or uninitialised).
func (v *Vault) waitResponding() error {
	return v.poll(func(h *api.HealthResponse) bool { return true })
}

// waitHealthy waits until the server is initialised, unsealed and active;
// with writable it also waits until KV at "secret" accepts requests.
func (v *Vault) waitHealthy(writable bool) error {
	err := v.poll(func(h *api.HealthResponse) bool {
		return h.Initialized && !h.Sealed && !h.Standby
	})
	if err != nil || !writable {
		return err
	}
	c := v.newClient(v.t, v.RootToken)
	deadline := time.Now().Add(vaultStartTimeout)
	for {
		_, err := c.Logical().List("secret/metadata")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("KV at secret not usable after restart: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *Vault) poll(ok func(*api.HealthResponse) bool) error {
	c := v.newClient(v.t, "")
	deadline := time.Now().Add(vaultStartTimeout)
	for {
		if v.hasExited() {
			return fmt.Errorf("vault exited early; output:\n%s", v.out.tail(4096))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		h, err := c.Sys().HealthWithContext(ctx)
		cancel()
		if err == nil && ok(h) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault not ready after %s (last error: %v); output:\n%s",
				vaultStartTimeout, err, v.out.tail(4096))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *Vault) unseal() error {
	c := v.newClient(v.t, "")
	st, err := c.Sys().Unseal(v.unsealKey)
	if err != nil {
		return err
	}
	if st.Sealed {
		return errors.New("still sealed after the unseal key")
	}
	return nil
}

// vaultEnv is the environment of a Vault process: the test's own, without
// VAULT_* variables that would change how the server or its CLI behaves.
func vaultEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

// Pdeathsig fires when the thread that started the child exits, not the
// process; all servers are therefore started from one goroutine locked to
// a thread that never exits.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread()
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// lockedBuffer collects a server's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Keep memory bounded for long-lived shared servers.
	if b.buf.Len() > 1<<20 {
		rest := b.buf.Bytes()[b.buf.Len()-64<<10:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

var errFatal = errors.New("testenv: fatal")

// fatalRecorder lets a sync.Once run code that calls t.Fatal without
// poisoning the first caller's test: the message is kept for every caller.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(errFatal)
}

func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	panic(errFatal)
}

func (f *fatalRecorder) Helper() {}
