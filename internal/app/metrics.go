package app

import (
	"github.com/prism-agent/prism-agent/internal/metrics"
	"github.com/prism-agent/prism-agent/internal/vault"
)

// vaultTokenStats reads the Vault client's token counters for the metrics
// at each scrape.
func vaultTokenStats(c *vault.Client) func() metrics.VaultTokenStats {
	return func() metrics.VaultTokenStats {
		s := c.Stats()
		return metrics.VaultTokenStats{
			Logins: s.Logins, Relogins: s.Relogins, LoginFailures: s.LoginFailures,
			Renewals: s.Renewals, RenewalFailures: s.RenewalFailures, TokenRetries: s.TokenRetries,
		}
	}
}
