package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prism-agent/prism-agent/internal/testenv"
)

// TestVaultBootstrapCommand runs the command twice, as an operator would:
// both runs print complete agent settings, and neither prints the root
// token.
func TestVaultBootstrapCommand(t *testing.T) {
	v := testenv.StartVaultDev(t)
	env := func(k string) (string, bool) {
		switch k {
		case "VAULT_ADDR":
			return v.Addr, true
		case "VAULT_TOKEN":
			return v.RootToken, true
		}
		return "", false
	}
	file := filepath.Join(t.TempDir(), "secret-id")
	var outputs []string
	for run := 1; run <= 2; run++ {
		var stdout, stderr bytes.Buffer
		code := vaultCommand([]string{"bootstrap", "-secret-id-file", file, "-wallet-vault-auth", "jwt"},
			env, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr.String())
		}
		out := stdout.String()
		for _, want := range []string{"VAULT_APPROLE_ROLE_ID=", "VAULT_APPROLE_SECRET_ID_FILE=" + file,
			"PRISM_WALLET_VAULT_AUTH=jwt"} {
			if !strings.Contains(out, want) {
				t.Fatalf("run %d: settings lack %q:\n%s", run, want, out)
			}
		}
		if strings.Contains(out+stderr.String(), v.RootToken) {
			t.Fatalf("run %d printed the root token", run)
		}
		outputs = append(outputs, out)
		if run == 2 && !strings.Contains(stderr.String(), "nothing changed") {
			t.Fatalf("second run changed Vault: %s", stderr.String())
		}
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret id file: %v %v", info, err)
	}
	if secretID, _ := os.ReadFile(file); strings.Contains(outputs[0]+outputs[1], strings.TrimSpace(string(secretID))) {
		t.Fatal("the secret id was printed although it went to a file")
	}
	var stderr bytes.Buffer
	if code := vaultCommand([]string{"bootstrap", "-wallet-vault-auth", "agent"}, env, &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("a bad -wallet-vault-auth exits %d", code)
	}
}
