package wallet

import (
	"context"
	"fmt"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// PutSecret stores a new version of a generic secret and returns its
// version. A non-nil cas makes the write conditional (see secret.PutOptions).
func (w *Wallet) PutSecret(ctx context.Context, name, value string, cas *int) (int, error) {
	if err := ValidateSecretName(name); err != nil {
		return 0, err
	}
	if len(value) > MaxSecretValueLength {
		return 0, fmt.Errorf("%w: the value is longer than %d bytes", ErrInvalidInput, MaxSecretValueLength)
	}
	if cas != nil && *cas < 0 {
		return 0, fmt.Errorf("%w: cas must not be negative", ErrInvalidInput)
	}
	st, err := w.store(ctx)
	if err != nil {
		return 0, err
	}
	return st.Put(ctx, genericPath(w.rec.ID, name), value, secret.PutOptions{CAS: cas})
}

// GetSecret reads a version of a generic secret (0: the current one).
func (w *Wallet) GetSecret(ctx context.Context, name string, version int) (secret.Secret, error) {
	if err := validateRef(name, version); err != nil {
		return secret.Secret{}, err
	}
	st, err := w.store(ctx)
	if err != nil {
		return secret.Secret{}, err
	}
	return st.Get(ctx, genericPath(w.rec.ID, name), version)
}

// DeleteSecret soft-deletes versions of a generic secret (none: the
// current one); UndeleteSecret restores them.
func (w *Wallet) DeleteSecret(ctx context.Context, name string, versions []int) error {
	if err := validateVersions(name, versions); err != nil {
		return err
	}
	st, err := w.store(ctx)
	if err != nil {
		return err
	}
	return st.Delete(ctx, genericPath(w.rec.ID, name), versions...)
}

// UndeleteSecret restores soft-deleted versions (none: the current one).
func (w *Wallet) UndeleteSecret(ctx context.Context, name string, versions []int) error {
	if err := validateVersions(name, versions); err != nil {
		return err
	}
	st, err := w.store(ctx)
	if err != nil {
		return err
	}
	return st.Undelete(ctx, genericPath(w.rec.ID, name), versions...)
}

// DestroySecret removes versions' values for good (none: the current one).
func (w *Wallet) DestroySecret(ctx context.Context, name string, versions []int) error {
	if err := validateVersions(name, versions); err != nil {
		return err
	}
	st, err := w.store(ctx)
	if err != nil {
		return err
	}
	return st.Destroy(ctx, genericPath(w.rec.ID, name), versions...)
}

// SecretMetadata describes every version of a generic secret.
func (w *Wallet) SecretMetadata(ctx context.Context, name string) (secret.Metadata, error) {
	if err := ValidateSecretName(name); err != nil {
		return secret.Metadata{}, err
	}
	st, err := w.store(ctx)
	if err != nil {
		return secret.Metadata{}, err
	}
	md, err := st.Metadata(ctx, genericPath(w.rec.ID, name))
	md.Name = name
	return md, err
}

// ListSecrets returns the names of the wallet's generic secrets, sorted.
func (w *Wallet) ListSecrets(ctx context.Context) ([]string, error) {
	st, err := w.store(ctx)
	if err != nil {
		return nil, err
	}
	names, err := st.List(ctx, w.rec.ID+"/generic-secrets")
	if err != nil {
		return nil, err
	}
	// A name the API could not address (written to Vault by another tool)
	// is left out rather than listed as unusable.
	out := names[:0]
	for _, n := range names {
		if ValidateSecretName(n) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

func validateRef(name string, version int) error {
	if err := ValidateSecretName(name); err != nil {
		return err
	}
	if version < 0 {
		return fmt.Errorf("%w: version must be a positive integer", ErrInvalidInput)
	}
	return nil
}

func validateVersions(name string, versions []int) error {
	if err := ValidateSecretName(name); err != nil {
		return err
	}
	for _, v := range versions {
		if v < 1 {
			return fmt.Errorf("%w: versions must be positive integers", ErrInvalidInput)
		}
	}
	return nil
}
