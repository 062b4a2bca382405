package embedded_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prism-agent/prism-agent/internal/secret/embedded"
)

func TestLoadOrCreateMasterKey(t *testing.T) {
	t.Run("ok/created-then-loaded", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "keys")
		path := filepath.Join(dir, "master.key")
		key, err := embedded.LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatalf("creating: %v", err)
		}
		if len(key) != embedded.KeySize || bytes.Equal(key, make([]byte, embedded.KeySize)) {
			t.Fatalf("got a %d-byte key, want %d random bytes", len(key), embedded.KeySize)
		}
		for p, mode := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if got := fi.Mode().Perm(); got != mode {
				t.Fatalf("%s has mode %#o, want %#o", p, got, mode)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading key file: %v", err)
		}
		if string(data) != hex.EncodeToString(key)+"\n" {
			t.Fatalf("key file does not hold the key as hex and a newline")
		}
		again, err := embedded.LoadOrCreateMasterKey(path)
		if err != nil || !bytes.Equal(again, key) {
			t.Fatalf("loading: error %v, same key %v", err, bytes.Equal(again, key))
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 {
			t.Fatalf("key directory holds %d entries (error %v), want only the key file", len(entries), err)
		}
	})
	t.Run("ok/whitespace-ignored", func(t *testing.T) {
		key := bytes.Repeat([]byte{0xab}, embedded.KeySize)
		path := writeKeyFile(t, "  "+strings.ToUpper(hex.EncodeToString(key))+"\r\n", 0o400)
		got, err := embedded.LoadOrCreateMasterKey(path)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("loading: error %v, same key %v", err, bytes.Equal(got, key))
		}
	})
	t.Run("ok/concurrent-first-start", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		const starters = 8
		keys := make([][]byte, starters)
		errs := make([]error, starters)
		var wg sync.WaitGroup
		for i := range starters {
			wg.Go(func() { keys[i], errs[i] = embedded.LoadOrCreateMasterKey(path) })
		}
		wg.Wait()
		for i := range starters {
			if errs[i] != nil {
				t.Fatalf("starter %d: %v", i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("starters 0 and %d got different keys", i)
			}
		}
	})

	valid := hex.EncodeToString(bytes.Repeat([]byte{0x5c}, embedded.KeySize))
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"fail/group-readable", valid, 0o640, "group and others must have no access"},
		{"fail/other-readable", valid, 0o604, "group and others must have no access"},
		{"fail/group-writable", valid, 0o620, "group and others must have no access"},
		{"fail/short", valid[:62], 0o600, "must hold 64 hex characters"},
		{"fail/long", valid + "00", 0o600, "must hold 64 hex characters"},
		{"fail/empty", "", 0o600, "must hold 64 hex characters"},
		{"fail/raw-bytes", string(bytes.Repeat([]byte{0x5c}, embedded.KeySize)), 0o600,
			"must hold 64 hex characters"},
		{"fail/not-hex", "zq" + valid[2:], 0o600, "is not hex-encoded"},
		{"fail/huge", strings.Repeat(valid, 100), 0o600, "must hold 64 hex characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeKeyFile(t, tc.content, tc.mode)
			key, err := embedded.LoadOrCreateMasterKey(path)
			if err == nil {
				t.Fatalf("loaded a %d-byte key, want an error", len(key))
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, path) {
				t.Fatalf("error %q: want it to name %s and say %q", msg, path, tc.want)
			}
			if tc.content != "" && strings.Contains(msg, tc.content[:8]) {
				t.Fatalf("error %q quotes the key file's content", msg)
			}
		})
	}
	t.Run("fail/directory", func(t *testing.T) {
		if _, err := embedded.LoadOrCreateMasterKey(t.TempDir()); err == nil {
			t.Fatalf("loaded a key from a directory")
		}
	})
}

func writeKeyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("writing key file: %v", err)
	}
	// Chmod after writing: WriteFile's mode is filtered by the umask.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	return path
}
