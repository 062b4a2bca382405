package secret_test

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/prism-agent/prism-agent/internal/secret"
)

func TestPathValidate(t *testing.T) {
	const dir = "wallet-1/generic-secrets"
	tests := []struct {
		name string
		p    secret.Path
		ok   bool
	}{
		{"ok/simple", secret.Path{Dir: dir, Name: "db-password"}, true},
		{"ok/seed", secret.Path{Dir: "wallet-1", Name: "seed"}, true},
		{"ok/nested-name", secret.Path{Dir: dir, Name: "team/db/password"}, true},
		{"ok/punctuation", secret.Path{Dir: dir, Name: "my.secret_name-1"}, true},
		{"ok/space", secret.Path{Dir: dir, Name: "a b"}, true},
		{"ok/unicode", secret.Path{Dir: dir, Name: "ключ"}, true},
		{"ok/three-dots", secret.Path{Dir: dir, Name: "..."}, true},
		{"ok/dot-prefix", secret.Path{Dir: dir, Name: ".hidden/..x"}, true},
		{"ok/percent", secret.Path{Dir: dir, Name: "%2e%2e"}, true},
		{"ok/longest", secret.Path{
			Dir: strings.Repeat("d", secret.MaxDirLen), Name: strings.Repeat("n", secret.MaxNameLen),
		}, true},
		{"fail/empty-dir", secret.Path{Name: "x"}, false},
		{"fail/empty-name", secret.Path{Dir: dir}, false},
		{"fail/dot-dot", secret.Path{Dir: dir, Name: ".."}, false},
		{"fail/dot-dot-escape", secret.Path{Dir: dir, Name: "../../other/seed"}, false},
		{"fail/dot-dot-last", secret.Path{Dir: dir, Name: "a/.."}, false},
		{"fail/dot", secret.Path{Dir: dir, Name: "."}, false},
		{"fail/dot-segment", secret.Path{Dir: dir, Name: "a/./b"}, false},
		{"fail/empty-segment", secret.Path{Dir: dir, Name: "a//b"}, false},
		{"fail/leading-slash", secret.Path{Dir: dir, Name: "/a"}, false},
		{"fail/trailing-slash", secret.Path{Dir: dir, Name: "a/"}, false},
		{"fail/dir-leading-slash", secret.Path{Dir: "/" + dir, Name: "a"}, false},
		{"fail/dir-trailing-slash", secret.Path{Dir: dir + "/", Name: "a"}, false},
		{"fail/dir-dot-dot", secret.Path{Dir: "wallet-1/..", Name: "a"}, false},
		{"fail/nul", secret.Path{Dir: dir, Name: "a\x00"}, false},
		{"fail/newline", secret.Path{Dir: dir, Name: "a\nb"}, false},
		{"fail/tab", secret.Path{Dir: dir, Name: "a\tb"}, false},
		{"fail/delete-char", secret.Path{Dir: dir, Name: "\x7f"}, false},
		{"fail/c1-control", secret.Path{Dir: dir, Name: "\u009b"}, false},
		{"fail/dir-control", secret.Path{Dir: "wallet\r1", Name: "a"}, false},
		{"fail/invalid-utf8", secret.Path{Dir: dir, Name: "\xff"}, false},
		{"fail/truncated-utf8", secret.Path{Dir: dir, Name: "\xd0"}, false},
		{"fail/name-too-long", secret.Path{Dir: dir, Name: strings.Repeat("n", secret.MaxNameLen+1)}, false},
		{"fail/dir-too-long", secret.Path{Dir: strings.Repeat("d", secret.MaxDirLen+1), Name: "a"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, secret.ErrInvalidPath) {
				t.Fatalf("Validate: got %v, want %v", err, secret.ErrInvalidPath)
			}
		})
	}
}

func TestValidateDir(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		ok   bool
	}{
		{"ok/wallet", "wallet-1", true},
		{"ok/nested", "wallet-1/generic-secrets", true},
		{"fail/empty", "", false},
		{"fail/trailing-slash", "wallet-1/", false},
		{"fail/dot-dot", "wallet-1/../wallet-2", false},
		{"fail/nul", "wallet\x00", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := secret.ValidateDir(tc.dir)
			if tc.ok != (err == nil) {
				t.Fatalf("ValidateDir(%q) = %v, want ok=%v", tc.dir, err, tc.ok)
			}
			if err != nil && !errors.Is(err, secret.ErrInvalidPath) {
				t.Fatalf("ValidateDir(%q) = %v, want it to wrap %v", tc.dir, err, secret.ErrInvalidPath)
			}
		})
	}
}

// FuzzPathValidate checks that every path Validate accepts stays inside its
// directory and is free of the characters that stores and logs trip over.
func FuzzPathValidate(f *testing.F) {
	for _, seed := range [][2]string{
		{"w/generic-secrets", "name"}, {"w", "seed"}, {"w/generic-secrets", "../seed"},
		{"w/generic-secrets", "a//b"}, {"w/", "x"}, {"w", "a/./b"}, {"w", "ключ"},
		{"w", "a\x00b"}, {"w", "\xff"}, {"..", "x"}, {"w", "..."},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, dir, name string) {
		p := secret.Path{Dir: dir, Name: name}
		err := p.Validate()
		if err != nil {
			if !errors.Is(err, secret.ErrInvalidPath) {
				t.Fatalf("Validate(%q) = %v, not wrapping ErrInvalidPath", p, err)
			}
			return
		}
		full := p.String()
		if path.Clean(full) != full {
			t.Fatalf("accepted %q, which path.Clean rewrites to %q", full, path.Clean(full))
		}
		if rel := strings.TrimPrefix(path.Clean(full), dir+"/"); rel != name {
			t.Fatalf("accepted %q, which resolves outside %q", full, dir)
		}
		if strings.HasPrefix(full, "/") || strings.HasSuffix(full, "/") {
			t.Fatalf("accepted %q with a leading or trailing slash", full)
		}
		if !utf8.ValidString(full) || strings.IndexFunc(full, unicode.IsControl) >= 0 {
			t.Fatalf("accepted %q with invalid UTF-8 or a control character", full)
		}
		if len(dir) > secret.MaxDirLen || len(name) > secret.MaxNameLen {
			t.Fatalf("accepted %d-byte dir and %d-byte name", len(dir), len(name))
		}
		if secret.ValidateDir(dir) != nil {
			t.Fatalf("Validate accepted dir %q that ValidateDir refuses", dir)
		}
	})
}
