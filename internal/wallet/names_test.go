package wallet

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateSecretName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"ok/simple", "password", true},
		{"ok/nested", "db/prod/password", true},
		{"ok/punctuation", "my.secret_name-1", true},
		{"ok/max length", strings.Repeat("a", MaxSecretNameLength), true},
		{"ok/reserved word not last", "metadata/x", true},
		{"fail/empty", "", false},
		{"fail/too long", strings.Repeat("a", MaxSecretNameLength+1), false},
		{"fail/dot dot", "a/../b", false},
		{"fail/dot", "./a", false},
		{"fail/only dot dot", "..", false},
		{"fail/empty segment", "a//b", false},
		{"fail/leading slash", "/a", false},
		{"fail/trailing slash", "a/", false},
		{"fail/space", "a b", false},
		{"fail/newline", "a\nb", false},
		{"fail/nul", "a\x00b", false},
		{"fail/unicode", "ключ", false},
		{"fail/backslash", `a\b`, false},
		{"fail/percent", "a%2Fb", false},
		{"fail/reserved metadata", "x/metadata", false},
		{"fail/reserved destroy", "destroy", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSecretName(tt.in)
			if tt.ok && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("err = %v, want ErrInvalidName", err)
			}
		})
	}
}

// FuzzValidateSecretName checks that every accepted name is a valid secret
// path tail under a wallet's directory: nothing accepted can escape it.
func FuzzValidateSecretName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a//b", "a/./b", "x/metadata", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateSecretName(name) != nil {
			return
		}
		p := genericPath("00000000-0000-0000-0000-000000000000", name)
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted name %q gives an invalid path: %v", name, err)
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("accepted name %q has segment %q", name, seg)
			}
		}
	})
}
