package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWithEnv runs compose/with-env.sh, the agent container's entrypoint,
// with `env` as its command.
func TestWithEnv(t *testing.T) {
	cases := []struct {
		name     string
		settings string
		env      []string
		want     []string // lines `env` must print
		wantErr  string
	}{
		{
			name:     "ok/file fills the environment",
			settings: "# comment\n\nVAULT_ADDR=http://vault:8200\nVAULT_APPROLE_ROLE_ID=abc=def\n",
			want:     []string{"VAULT_ADDR=http://vault:8200", "VAULT_APPROLE_ROLE_ID=abc=def"},
		},
		{
			name:     "ok/the container's variable wins",
			settings: "PRISM_WALLET_VAULT_AUTH=token-role\n",
			env:      []string{"PRISM_WALLET_VAULT_AUTH=jwt"},
			want:     []string{"PRISM_WALLET_VAULT_AUTH=jwt"},
		},
		{
			name:     "ok/values are data, not shell",
			settings: "A=$(touch pwned) `id` $HOME\nLAST=no newline at the end",
			want:     []string{"A=$(touch pwned) `id` $HOME", "LAST=no newline at the end"},
		},
		{
			name:     "fail/not a variable name",
			settings: "rm -rf /x=1\n",
			wantErr:  "is not a variable name",
		},
		{
			name:     "fail/line without =",
			settings: "echo hello\n",
			wantErr:  "a line is not KEY=VALUE",
		},
		{
			name:    "fail/no settings file",
			wantErr: "has the bootstrap service run?",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "agent.env")
			if tc.settings != "" {
				if err := os.WriteFile(file, []byte(tc.settings), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("sh", "compose/with-env.sh", "env")
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PRISM_SETTINGS_FILE=" + file}, tc.env...)
			out, err := cmd.CombinedOutput()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(string(out), tc.wantErr) {
					t.Fatalf("err = %v, output %q; want a failure saying %q", err, out, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("with-env.sh: %v\n%s", err, out)
			}
			lines := strings.Split(string(out), "\n")
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("environment lacks %q:\n%s", w, out)
				}
			}
			if _, err := os.Stat("pwned"); err == nil {
				os.Remove("pwned")
				t.Fatal("with-env.sh ran a value as a command")
			}
		})
	}
}
