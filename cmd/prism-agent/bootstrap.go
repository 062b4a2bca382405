package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/prism-agent/prism-agent/internal/config"
	"github.com/prism-agent/prism-agent/internal/vault/bootstrap"
)

const vaultUsage = `usage: prism-agent vault bootstrap [flags]

Configures a Vault server for the agent, idempotently, with a sudo (root)
token from VAULT_TOKEN or VAULT_TOKEN_FILE and the address from VAULT_ADDR.
It prints the agent's settings on standard output and what it changed on
standard error.
`

// vaultCommand runs "prism-agent vault <subcommand>".
func vaultCommand(args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "bootstrap" {
		fmt.Fprint(stderr, vaultUsage)
		return 2
	}
	fs := flag.NewFlagSet("vault bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bootstrap.Options
	var secretIDFile, walletAuth string
	fs.StringVar(&o.KVMount, "kv-mount", "secret", "KV v2 mount of the wallets' secrets")
	fs.StringVar(&o.AppRoleMount, "approle-mount", "approle", "mount of the AppRole auth method")
	fs.StringVar(&o.AppRole, "approle", "prism-agent", "the agent's AppRole role")
	fs.DurationVar(&o.AgentTTL, "agent-token-ttl", 24*time.Hour, "TTL of the agent's tokens")
	fs.DurationVar(&o.AgentMaxTTL, "agent-token-max-ttl", 720*time.Hour, "max TTL of the agent's tokens")
	fs.StringVar(&o.TokenRole, "token-role", "prism-wallet", "token role that mints wallet tokens")
	fs.DurationVar(&o.WalletTTL, "wallet-token-ttl", time.Hour, "TTL of wallet tokens")
	fs.BoolVar(&o.NewSecretID, "new-secret-id", false, "issue a new AppRole secret id even if the role exists")
	fs.DurationVar(&o.WrapTTL, "wrap-ttl", 0, "response-wrap the secret id with this TTL (e.g. 10m)")
	fs.StringVar(&secretIDFile, "secret-id-file", "",
		"write the secret id (or its wrapping token) to this file, mode 0600, instead of standard output")
	fs.StringVar(&walletAuth, "wallet-vault-auth", "token-role",
		"PRISM_WALLET_VAULT_AUTH to print for the agent: token-role or jwt")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if walletAuth != config.WalletAuthTokenRole && walletAuth != config.WalletAuthJWT {
		fmt.Fprintln(stderr, "prism-agent vault bootstrap: -wallet-vault-auth must be token-role or jwt")
		return 2
	}
	if secretIDFile != "" {
		// The agent may start elsewhere: name the file by its absolute path.
		abs, err := filepath.Abs(secretIDFile)
		if err != nil {
			fmt.Fprintf(stderr, "prism-agent vault bootstrap: %v\n", err)
			return 2
		}
		secretIDFile = abs
	}

	addr, _ := getenv("VAULT_ADDR")
	token, err := readSecretEnv(getenv, "VAULT_TOKEN")
	if err != nil || addr == "" || token == "" {
		fmt.Fprintln(stderr, "prism-agent vault bootstrap: set VAULT_ADDR and VAULT_TOKEN (or VAULT_TOKEN_FILE) to a sudo token")
		if err != nil {
			fmt.Fprintln(stderr, err)
		}
		return 2
	}
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "prism-agent vault bootstrap: %v\n", err)
		return 1
	}
	c.SetToken(token)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := bootstrap.Run(ctx, c, o)
	if err != nil {
		fmt.Fprintf(stderr, "prism-agent vault bootstrap: %v\n", err)
		return 1
	}
	for _, ch := range r.Changes {
		fmt.Fprintln(stderr, "changed:", ch)
	}
	if len(r.Changes) == 0 {
		fmt.Fprintln(stderr, "Vault is already configured; nothing changed")
	}
	return printAgentSettings(stdout, stderr, addr, walletAuth, r, secretIDFile)
}

func printAgentSettings(stdout, stderr io.Writer, addr, walletAuth string, r *bootstrap.Result,
	secretIDFile string) int {
	fmt.Fprintf(stdout, "# PRISM Agent settings for this Vault (PRISM_WALLET_VAULT_AUTH=%s)\n", walletAuth)
	fmt.Fprintf(stdout, "SECRET_STORAGE_BACKEND=vault\nVAULT_ADDR=%s\nVAULT_KV_MOUNT=%s\n", addr, r.Options.KVMount)
	fmt.Fprintf(stdout, "PRISM_WALLET_VAULT_AUTH=%s\nPRISM_VAULT_TOKEN_ROLE=%s\n", walletAuth, r.Options.TokenRole)
	fmt.Fprintf(stdout, "VAULT_APPROLE_MOUNT=%s\nVAULT_APPROLE_ROLE_ID=%s\n", r.Options.AppRoleMount, r.RoleID)

	name, value := "VAULT_APPROLE_SECRET_ID", r.SecretID
	if r.WrappingToken != "" {
		name, value = "VAULT_APPROLE_SECRET_ID_WRAPPING_TOKEN", r.WrappingToken
	}
	switch {
	case value == "" && secretIDFile != "" && fileExists(secretIDFile):
		// Issued by an earlier run into this file, which is kept: the
		// settings stay complete however often bootstrap runs.
		fmt.Fprintf(stdout, "VAULT_APPROLE_SECRET_ID_FILE=%s\n", secretIDFile)
	case value == "":
		fmt.Fprintln(stdout, "# the AppRole secret id was issued before; run with -new-secret-id for another")
	case secretIDFile != "":
		if err := os.WriteFile(secretIDFile, []byte(value+"\n"), 0o600); err != nil {
			fmt.Fprintf(stderr, "prism-agent vault bootstrap: writing %s: %v\n", secretIDFile, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s_FILE=%s\n", name, secretIDFile)
	default:
		fmt.Fprintf(stdout, "%s=%s\n", name, value)
	}
	return 0
}

// readSecretEnv reads NAME or the file named by NAME_FILE.
func readSecretEnv(getenv config.Getenv, name string) (string, error) {
	if v, ok := getenv(name); ok && v != "" {
		return strings.TrimSpace(v), nil
	}
	if f, ok := getenv(name + "_FILE"); ok && f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: cannot read %s", name, f)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
