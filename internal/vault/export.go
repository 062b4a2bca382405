package vault

import "context"

// Classify turns an error of the Vault API client into one of the secret
// package's outcomes (unavailable, forbidden, not found, ...), prefixed
// with op, for packages that call Vault through API(). The result never
// contains Vault's response body or the request URL.
func Classify(ctx context.Context, op string, err error) error { return classify(op, ctx, err) }
