package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/testenv"
	"github.com/prism-agent/prism-agent/internal/vault"
)

// logBuffer collects a client's slog output so tests can check that no
// secret ever reaches it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns how many log lines carry msg.
func (b *logBuffer) count(msg string) int {
	return strings.Count(b.String(), `"msg":"`+msg+`"`)
}

// newLogger returns a JSON logger at debug level writing to a buffer; the
// buffer is printed when the test fails.
func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", buf.String())
		}
	})
	h := slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), buf
}

// assertNoSecrets fails the test if any of secrets appears in the log.
func assertNoSecrets(t *testing.T, buf *logBuffer, secrets ...string) {
	t.Helper()
	out := buf.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("a secret (%d bytes, starting %.4q) appears in the log", len(s), s)
		}
	}
}

// newClient starts a client and closes it when the test ends.
func newClient(t *testing.T, cfg vault.Config, logger *slog.Logger) *vault.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := vault.New(ctx, cfg, logger)
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func randomName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// kvPolicy grants full use of a KV mount.
func kvPolicy(mount string) string {
	return `path "` + mount + `/*" { capabilities = ["create", "read", "update", "delete", "list"] }`
}

// agentAppRole creates an AppRole role on v whose tokens may use mount,
// with the given token parameters.
func agentAppRole(t *testing.T, v *testenv.Vault, mount string,
	params map[string]any,
) *testenv.AppRole {
	t.Helper()
	policy := randomName(t, "agent")
	v.WritePolicy(t, policy, kvPolicy(mount))
	p := map[string]any{"token_policies": policy}
	for k, val := range params {
		p[k] = val
	}
	return v.CreateAppRole(t, "approle", randomName(t, "role"), p)
}
