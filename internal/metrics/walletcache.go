package metrics

// Results of a wallet-token cache lookup, the "result" label.
const (
	resultHit  = "hit"
	resultMiss = "miss"
)

// WalletTokenCache is what a wallet-token cache reports: Hit when a
// request found a valid wallet token in the cache, Miss when it had to log
// in to Vault (or mint a token) first.
type WalletTokenCache interface {
	Hit()
	Miss()
}

type walletTokenCache struct{ m *Metrics }

func (c walletTokenCache) Hit()  { c.m.tokenCache.WithLabelValues(resultHit).Inc() }
func (c walletTokenCache) Miss() { c.m.tokenCache.WithLabelValues(resultMiss).Inc() }

// WalletTokenCache returns the counters a wallet-token cache calls.
func (m *Metrics) WalletTokenCache() WalletTokenCache { return walletTokenCache{m} }

// NopWalletTokenCache counts nothing, for caches built without metrics.
type NopWalletTokenCache struct{}

// Hit does nothing.
func (NopWalletTokenCache) Hit() {}

// Miss does nothing.
func (NopWalletTokenCache) Miss() {}
