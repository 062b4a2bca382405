package embedded

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreateMasterKey returns the master key kept in the file at path,
// creating the file with a new random key when it does not exist.
//
// The file holds the key as 64 lowercase hex characters followed by a
// newline, so an operator can back it up or move it into another secret
// manager as text; surrounding whitespace is ignored on reading. A file that
// group or others may access, or that does not decode to exactly 32 bytes,
// is refused: the error names the path and the rule, never the content.
//
// A new file is written in full under a temporary name and then linked into
// place, which fails if path appeared meanwhile; concurrent first starts
// therefore all end up with the one key that won, and nobody ever reads a
// half-written file. The parent directory is created with mode 0700 and the
// file has mode 0600.
func LoadOrCreateMasterKey(path string) ([]byte, error) {
	key, err := readMasterKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, err = createMasterKey(path)
	if errors.Is(err, fs.ErrExist) {
		return readMasterKey(path)
	}
	return key, err
}

func readMasterKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening master key file: %w", err)
	}
	defer f.Close()

	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checking master key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("master key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s has mode %#o: group and others must have "+
			"no access (chmod 600 %s)", path, perm, path)
	}

	// Read one byte more than any valid file needs, to tell "too long"
	// from "just right" without slurping an arbitrary file.
	const maxFile = 2*KeySize + 64
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading master key file %s: %w", path, err)
	}
	text := bytes.TrimSpace(data)
	defer clear(data)
	if len(data) > maxFile || len(text) != hex.EncodedLen(KeySize) {
		return nil, fmt.Errorf("master key file %s must hold %d hex characters (%d bytes), "+
			"found %d characters", path, hex.EncodedLen(KeySize), KeySize, len(text))
	}
	key := make([]byte, KeySize)
	// The decoding error is dropped on purpose: it quotes the offending
	// character, which is part of the key.
	if _, err := hex.Decode(key, text); err != nil {
		return nil, fmt.Errorf("master key file %s is not hex-encoded", path)
	}
	return key, nil
}

func createMasterKey(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating master key directory: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generating master key: %w", err)
	}

	// os.CreateTemp opens with O_EXCL and mode 0600.
	tmp, err := os.CreateTemp(dir, ".master-key-*")
	if err != nil {
		return nil, fmt.Errorf("creating master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	encoded := make([]byte, hex.EncodedLen(KeySize)+1)
	hex.Encode(encoded, key)
	encoded[len(encoded)-1] = '\n'
	_, err = tmp.Write(encoded)
	clear(encoded)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing master key file: %w", err)
	}

	if err := os.Link(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("creating master key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable; failure leaves it merely pending
		d.Close()
	}
	return key, nil
}
