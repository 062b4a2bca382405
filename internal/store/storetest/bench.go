package storetest

import (
	"testing"

	"github.com/prism-agent/prism-agent/internal/store"
)

// BenchLookupAPIKey measures LookupAPIKey, the query behind every request
// authenticated with an API key, on a store holding one tenant.
func BenchLookupAPIKey(b *testing.B, s store.Store) {
	ctx := b.Context()
	key := newAPIKey("bench", "e-bench")
	if err := s.CreateWallet(ctx, newWallet("w-bench", 0)); err != nil {
		b.Fatalf("creating wallet: %v", err)
	}
	if err := s.CreateEntity(ctx, newEntity("e-bench", "w-bench", 0)); err != nil {
		b.Fatalf("creating entity: %v", err)
	}
	if err := s.AddAPIKey(ctx, key); err != nil {
		b.Fatalf("adding api key: %v", err)
	}
	for b.Loop() {
		if _, err := s.LookupAPIKey(ctx, key.Hash); err != nil {
			b.Fatalf("looking up api key: %v", err)
		}
	}
}
