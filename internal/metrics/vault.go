package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// Operations of the secret store, the "operation" label of Vault series.
const (
	opPut      = "put"
	opGet      = "get"
	opDelete   = "delete"
	opUndelete = "undelete"
	opDestroy  = "destroy"
	opMetadata = "metadata"
	opList     = "list"
	opPing     = "ping"
)

// ObserveVault records one secret store operation on Vault that took d
// and ended with err.
func (m *Metrics) ObserveVault(operation string, d time.Duration, err error) {
	m.vaultOps.WithLabelValues(operation).Observe(d.Seconds())
	if reason := vaultErrorReason(err); reason != "" {
		m.vaultErrors.WithLabelValues(operation, reason).Inc()
	}
}

// vaultErrorReason names the failures an operator acts on. Outcomes that
// are answers (not found, check-and-set refused, invalid path) and
// requests the client gave up are not errors of Vault.
func vaultErrorReason(err error) string {
	switch {
	case err == nil, errors.Is(err, secret.ErrNotFound), errors.Is(err, secret.ErrCASMismatch),
		errors.Is(err, secret.ErrInvalidPath), errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, secret.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, secret.ErrForbidden):
		return "forbidden"
	}
	return "internal"
}

// VaultStore returns next (a secret store on Vault) with each operation
// timed and its errors counted.
func (m *Metrics) VaultStore(next secret.Store) secret.Store {
	return &vaultStore{next: next, m: m}
}

type vaultStore struct {
	next secret.Store
	m    *Metrics
}

var _ secret.Store = (*vaultStore)(nil)

func (s *vaultStore) observe(op string, start time.Time, err error) {
	s.m.ObserveVault(op, time.Since(start), err)
}

func (s *vaultStore) Put(ctx context.Context, p secret.Path, value string,
	o secret.PutOptions) (int, error) {
	start := time.Now()
	v, err := s.next.Put(ctx, p, value, o)
	s.observe(opPut, start, err)
	return v, err
}

func (s *vaultStore) Get(ctx context.Context, p secret.Path, version int) (secret.Secret, error) {
	start := time.Now()
	sec, err := s.next.Get(ctx, p, version)
	s.observe(opGet, start, err)
	return sec, err
}

func (s *vaultStore) Delete(ctx context.Context, p secret.Path, versions ...int) error {
	start := time.Now()
	err := s.next.Delete(ctx, p, versions...)
	s.observe(opDelete, start, err)
	return err
}

func (s *vaultStore) Undelete(ctx context.Context, p secret.Path, versions ...int) error {
	start := time.Now()
	err := s.next.Undelete(ctx, p, versions...)
	s.observe(opUndelete, start, err)
	return err
}

func (s *vaultStore) Destroy(ctx context.Context, p secret.Path, versions ...int) error {
	start := time.Now()
	err := s.next.Destroy(ctx, p, versions...)
	s.observe(opDestroy, start, err)
	return err
}

func (s *vaultStore) Metadata(ctx context.Context, p secret.Path) (secret.Metadata, error) {
	start := time.Now()
	md, err := s.next.Metadata(ctx, p)
	s.observe(opMetadata, start, err)
	return md, err
}

func (s *vaultStore) List(ctx context.Context, dir string) ([]string, error) {
	start := time.Now()
	names, err := s.next.List(ctx, dir)
	s.observe(opList, start, err)
	return names, err
}

func (s *vaultStore) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.next.Ping(ctx)
	s.observe(opPing, start, err)
	return err
}

// VaultTokenStats is the lifecycle of the agent's Vault token as the Vault
// client counts it (see vault.Stats): all counters since the client
// started.
type VaultTokenStats struct {
	Logins, Relogins, LoginFailures uint64
	Renewals, RenewalFailures       uint64
	// TokenRetries counts requests sent again after a new login because
	// Vault no longer accepted the token.
	TokenRetries uint64
}

// WatchVaultToken exposes the counters that stats returns; they are read
// at each scrape, so the Vault client needs no hook into this package.
func (m *Metrics) WatchVaultToken(stats func() VaultTokenStats) error {
	return m.reg.Register(&tokenCollector{stats: stats})
}

var (
	descLogins = prometheus.NewDesc(namespace+"_vault_token_logins_total",
		"Logins of the agent's Vault account (AppRole), by result (ok, failed).",
		[]string{"result"}, nil)
	descRelogins = prometheus.NewDesc(namespace+"_vault_token_relogins_total",
		"Successful logins after the first one: the token was refused, expired or capped.",
		nil, nil)
	descRenewals = prometheus.NewDesc(namespace+"_vault_token_renewals_total",
		"Renewals of the agent's Vault token, by result (ok, failed).",
		[]string{"result"}, nil)
	descRetries = prometheus.NewDesc(namespace+"_vault_token_retries_total",
		"Vault requests sent again after a new login because the token was no longer valid.",
		nil, nil)
)

type tokenCollector struct {
	stats func() VaultTokenStats
}

func (c *tokenCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLogins
	ch <- descRelogins
	ch <- descRenewals
	ch <- descRetries
}

func (c *tokenCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descLogins, s.Logins, "ok")
	counter(descLogins, s.LoginFailures, "failed")
	counter(descRelogins, s.Relogins)
	counter(descRenewals, s.Renewals, "ok")
	counter(descRenewals, s.RenewalFailures, "failed")
	counter(descRetries, s.TokenRetries)
}
