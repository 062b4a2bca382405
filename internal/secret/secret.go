// Package secret defines the secret store: where wallet seeds and generic
// secrets live, with the versioning semantics of Vault's KV version 2 engine.
//
// A Store knows nothing about wallets. Callers (the wallet package) build a
// Path from a fixed directory such as "<wallet-id>/generic-secrets" and a
// variable name; implementations must never let a Path address anything
// outside the directory it names.
package secret

import (
	"context"
	"errors"
	"time"
)

// Domain outcomes of secret operations, checked with errors.Is.
var (
	// ErrNotFound: the path has no version, or the requested version does
	// not exist, is soft-deleted or destroyed (see Secret.Deleted/Destroyed
	// in Metadata for the reason).
	ErrNotFound = errors.New("secret not found")
	// ErrCASMismatch: a check-and-set write was refused because the current
	// version differs from the expected one (cas=0: the path already exists).
	ErrCASMismatch = errors.New("check-and-set version mismatch")
	// ErrUnavailable: the backing store cannot be reached, is sealed, or
	// refused our credentials for a reason the caller cannot fix. The HTTP
	// layer renders it as 503 with Retry-After.
	ErrUnavailable = errors.New("secret store unavailable")
	// ErrForbidden: the backing store refused access to the path (a Vault
	// policy said no). Never caused by a client's input in agent mode.
	ErrForbidden = errors.New("secret store denied access")
	// ErrInvalidPath: the path is empty, malformed or escapes its directory.
	ErrInvalidPath = errors.New("invalid secret path")
)

// Path addresses one secret: Dir is the fixed part chosen by the caller
// ("<wallet-id>/seed" has Dir "<wallet-id>" and Name "seed"), Name is the
// variable tail. Stores that hash path tails hash Name only.
type Path struct {
	Dir  string
	Name string
}

// String returns the path as "Dir/Name".
func (p Path) String() string { return p.Dir + "/" + p.Name }

// PutOptions tunes a write.
type PutOptions struct {
	// CAS, when non-nil, makes the write conditional: it succeeds only if
	// the current version of the path equals *CAS. *CAS == 0 means "only if
	// the path has never been written" (write-once).
	CAS *int
}

// Secret is one version of a secret's value.
type Secret struct {
	Value   string
	Version int
	Created time.Time
}

// Version describes one version of a secret in its metadata.
type Version struct {
	Version   int
	Created   time.Time
	Deleted   *time.Time // soft-deleted at, nil if live
	Destroyed bool
}

// Metadata describes all versions of a secret.
type Metadata struct {
	Name           string
	CurrentVersion int
	OldestVersion  int
	Created        time.Time
	Updated        time.Time
	Versions       []Version // ascending by Version
}

// Store is a versioned secret store with KV v2 semantics:
//
//   - Put creates version N+1 (the first version is 1).
//   - Get with version 0 reads the current version; a soft-deleted or
//     destroyed version reads as ErrNotFound.
//   - Delete soft-deletes the given versions; Undelete restores soft-deleted
//     versions; Destroy removes the values of the given versions permanently
//     (their metadata remains, marked destroyed). Each applies to the current
//     (highest) version when no version is given, and to a path that was
//     never written returns ErrNotFound. Versions that do not exist are
//     ignored, as in Vault.
//   - Metadata returns ErrNotFound when the path was never written.
//   - List returns every secret below dir, at any depth, as its path
//     relative to dir, sorted by bytes, including secrets whose current
//     version is deleted or destroyed. Names may contain '/'.
//   - Metadata's OldestVersion is the lowest version still kept.
type Store interface {
	Put(ctx context.Context, p Path, value string, opts PutOptions) (int, error)
	Get(ctx context.Context, p Path, version int) (Secret, error)
	Delete(ctx context.Context, p Path, versions ...int) error
	Undelete(ctx context.Context, p Path, versions ...int) error
	Destroy(ctx context.Context, p Path, versions ...int) error
	Metadata(ctx context.Context, p Path) (Metadata, error)
	List(ctx context.Context, dir string) ([]string, error)
	// Ping reports whether the store is reachable and usable.
	Ping(ctx context.Context) error
}
