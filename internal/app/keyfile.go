package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// loadOrCreateKeyFile returns the key stored in path, creating the file
// with a fresh random key (mode 0600, never overwriting) when it is absent.
// created tells whether this call made it.
func loadOrCreateKeyFile(path string) (key string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if info, statErr := os.Stat(path); statErr == nil && info.Mode().Perm()&0o077 != 0 {
			return "", false, fmt.Errorf("key file %s is readable by group or others; chmod 600 it", path)
		}
		key = strings.TrimSpace(string(b))
		if key == "" {
			return "", false, fmt.Errorf("key file %s is empty", path)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("reading key file %s: %w", path, err)
	}

	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, fmt.Errorf("generating key: %w", err)
	}
	key = base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our read and our create.
		return loadOrCreateKeyFile(path)
	}
	if err != nil {
		return "", false, fmt.Errorf("creating key file %s: %w", path, err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("writing key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("writing key file %s: %w", path, err)
	}
	return key, true, nil
}
