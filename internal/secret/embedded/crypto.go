package embedded

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// KeySize is the size in bytes of the master key and of every data key
// (AES-256).
const KeySize = 32

// Associated data labels. Each kind of ciphertext carries its own label, so
// a wrapped data key can never be passed off as a value or a key check, and
// the "v1" leaves room to change the format without ambiguity.
const (
	labelKeyCheck = "prism-agent/secret-store/key-check/v1"
	labelDataKey  = "prism-agent/secret-store/data-key/v1"
	labelValue    = "prism-agent/secret-store/value/v1"
)

// keyCheckPlaintext is what the key check value decrypts to. It is public:
// the check proves possession of the key, not secrecy of this text.
const keyCheckPlaintext = "the master key of this secret store"

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating GCM: %w", err)
	}
	return aead, nil
}

// seal encrypts plaintext under a fresh random nonce and returns
// nonce || ciphertext || tag. Random 96-bit nonces are safe far beyond the
// number of writes a single embedded store will ever see per key.
func seal(aead cipher.AEAD, plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("reading nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

// errOpen is returned by open for every malformed or unauthentic input; the
// callers translate it into the error that fits what was being opened.
var errOpen = errors.New("message authentication failed")

func open(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errOpen
	}
	nonce, ciphertext := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, errOpen
	}
	return plaintext, nil
}

func keyCheckAAD() []byte { return []byte(labelKeyCheck) }

// dataKeyAAD binds a wrapped data key to its namespace, so the key row of one
// wallet cannot be copied over another's.
func dataKeyAAD(namespace string) []byte {
	return appendField([]byte(labelDataKey), namespace)
}

// valueAAD binds a value's ciphertext to its namespace, full path and
// version, so a row moved to another path or version no longer decrypts.
// Fields are length-prefixed, which keeps the encoding unambiguous whatever
// the strings contain.
func valueAAD(namespace, path string, version int) []byte {
	b := appendField([]byte(labelValue), namespace)
	b = appendField(b, path)
	return binary.BigEndian.AppendUint64(b, uint64(version))
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
