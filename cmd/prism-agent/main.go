// Command prism-agent runs the PRISM identity agent.
//
//	prism-agent serve            run the agent (embedded stores by default)
//	prism-agent vault bootstrap  configure Vault for the agent
//	prism-agent version          print the version
//
// Configuration comes from environment variables (each also readable from
// <NAME>_FILE) and flags; `prism-agent serve -h` lists the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prism-agent/prism-agent/internal/app"
	"github.com/prism-agent/prism-agent/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: prism-agent <command> [flags]

commands:
  serve             run the agent
  vault bootstrap   configure a Vault server for the agent (needs a sudo token)
  version           print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, version)
		return 0
	case "serve":
		return serve(args[1:], os.LookupEnv, stdout, stderr)
	case "vault":
		return vaultCommand(args[1:], os.LookupEnv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "prism-agent: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serve(args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "prism-agent: invalid configuration:\n%v\n", err)
		return 2
	}
	logger := newLogger(cfg, stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, version, logger)
	if err != nil {
		logger.Error("agent failed to start", "error", err.Error())
		return 1
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		logger.Error("cannot listen", "address", cfg.ListenAddr(), "error", err.Error())
		return 1
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("agent listening", "address", ln.Addr().String(), "version", version,
		"secret_storage_backend", cfg.SecretBackend, "wallet_vault_auth", cfg.WalletVaultAuth)
	printWelcome(stdout, "http://"+ln.Addr().String(), a)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		logger.Error("server stopped", "error", err.Error())
		return 1
	case <-ctx.Done():
	}
	logger.Info("agent shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("shutdown incomplete", "error", err.Error())
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// printWelcome tells a first-time user where the keys are and how to call
// the agent. It prints file paths, never the keys themselves.
func printWelcome(w io.Writer, base string, a *app.App) {
	fmt.Fprintf(w, "\nPRISM Agent is listening on %s\n", base)
	if a.AdminTokenFile != "" {
		fmt.Fprintf(w, "  admin token (x-admin-api-key): %s\n", a.AdminTokenFile)
	}
	if a.DefaultAPIKeyFile != "" {
		fmt.Fprintf(w, "  default wallet API key (apikey): %s\n", a.DefaultAPIKeyFile)
		fmt.Fprintf(w, "\nTry it:\n")
		fmt.Fprintf(w, "  curl -s -X PUT %s/secrets/hello -H \"apikey: $(cat %s)\" "+
			"-H 'Content-Type: application/json' -d '{\"value\":\"world\"}'\n", base, a.DefaultAPIKeyFile)
		fmt.Fprintf(w, "  curl -s %s/secrets/hello -H \"apikey: $(cat %s)\"\n\n", base, a.DefaultAPIKeyFile)
	} else {
		fmt.Fprintf(w, "\nTry it:\n  curl -s %s/_system/ready\n\n", base)
	}
}
