// Package seed holds a wallet's master seed: the 64 bytes from which every
// key of the wallet's PRISM DIDs is derived (BIP32 / SLIP-0010).
//
// A seed reaches the agent either as 128 hex characters or as a BIP39
// mnemonic with an optional passphrase, or is generated from the operating
// system's CSPRNG. The Seed type never prints, logs or serialises its bytes;
// errors never repeat the input, since a rejected seed is still a secret.
package seed

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"

	"github.com/tyler-smith/go-bip39"
	"golang.org/x/text/unicode/norm"
)

// Size is the length of a wallet seed in bytes, the output size of the
// BIP39 seed function (PBKDF2-HMAC-SHA512).
const Size = 64

// ErrInvalidSeed is wrapped by every error about a malformed seed, hex
// string or mnemonic. The wrapping message says what is wrong without
// repeating any part of the input.
var ErrInvalidSeed = errors.New("invalid seed")

// redacted replaces the seed wherever it would otherwise be printed.
const redacted = "[redacted]"

// Seed is a wallet master seed of exactly Size bytes. The zero value is
// empty and invalid. Copies of a Seed share their bytes, so Zero clears all
// of them.
type Seed struct {
	b []byte
}

// New returns a Seed holding a copy of b, which must be exactly Size bytes.
func New(b []byte) (Seed, error) {
	if len(b) != Size {
		return Seed{}, fmt.Errorf("%w: a seed is %d bytes, got %d", ErrInvalidSeed, Size, len(b))
	}
	return Seed{b: append([]byte(nil), b...)}, nil
}

// Generate returns Size bytes from crypto/rand, for a wallet created
// without a seed.
func Generate() ([]byte, error) {
	b := make([]byte, Size)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return nil, fmt.Errorf("generating seed: %w", err)
	}
	return b, nil
}

// Parse reads a seed given as 128 hex characters (upper or lower case) or as
// a BIP39 English mnemonic. The passphrase applies to mnemonics only; giving
// one with a hex seed is an error rather than being silently ignored, since
// the caller would otherwise believe it protects the seed.
func Parse(input, passphrase string) (Seed, error) {
	s := strings.TrimSpace(input)
	if s == "" {
		return Seed{}, fmt.Errorf("%w: empty", ErrInvalidSeed)
	}
	if looksLikeHex(s) {
		if passphrase != "" {
			return Seed{}, fmt.Errorf("%w: a passphrase applies to mnemonics only, not to a hex seed",
				ErrInvalidSeed)
		}
		return FromHex(s)
	}
	return FromMnemonic(s, passphrase)
}

// FromHex decodes a seed written as exactly 128 hex characters.
func FromHex(s string) (Seed, error) {
	if len(s) != 2*Size {
		return Seed{}, fmt.Errorf("%w: a hex seed is %d characters (%d bytes), got %d characters",
			ErrInvalidSeed, 2*Size, Size, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		// The decoder's message quotes the offending character; ours does not.
		return Seed{}, fmt.Errorf("%w: not a hex string", ErrInvalidSeed)
	}
	return Seed{b: b}, nil
}

// FromMnemonic turns a BIP39 English mnemonic and optional passphrase into
// a seed. Words may be separated by any white space and written in any
// case; mnemonic and passphrase are NFKD-normalised as BIP39 requires. The
// word count, every word and the checksum are checked.
func FromMnemonic(mnemonic, passphrase string) (Seed, error) {
	words := strings.Fields(strings.ToLower(norm.NFKD.String(mnemonic)))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return Seed{}, fmt.Errorf("%w: a mnemonic has 12, 15, 18, 21 or 24 words, got %d",
			ErrInvalidSeed, len(words))
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return Seed{}, fmt.Errorf("%w: mnemonic word %d is not in the BIP39 English word list",
				ErrInvalidSeed, i+1)
		}
	}
	sentence := strings.Join(words, " ")
	if _, err := bip39.EntropyFromMnemonic(sentence); err != nil {
		if errors.Is(err, bip39.ErrChecksumIncorrect) {
			return Seed{}, fmt.Errorf("%w: mnemonic checksum does not match", ErrInvalidSeed)
		}
		return Seed{}, fmt.Errorf("%w: mnemonic rejected", ErrInvalidSeed)
	}
	return Seed{b: bip39.NewSeed(sentence, norm.NFKD.String(passphrase))}, nil
}

// looksLikeHex reports whether s is a single token of hex digits, which is
// taken as an attempt at a hex seed (and so gets the hex length error, not a
// mnemonic word-count error).
func looksLikeHex(s string) bool {
	for _, r := range s {
		if !unicode.Is(unicode.ASCII_Hex_Digit, r) {
			return false
		}
	}
	return true
}

// Bytes returns the seed's bytes. The slice is the Seed's own storage, so
// that Zero can clear it; callers must not keep or modify it.
func (s Seed) Bytes() []byte { return s.b }

// IsZero reports whether s holds no seed.
func (s Seed) IsZero() bool { return len(s.b) == 0 }

// Zero overwrites the seed's bytes (in every copy of s) with zeros.
func (s Seed) Zero() { clear(s.b) }

// String returns a fixed placeholder, never the seed.
func (s Seed) String() string { return redacted }

// GoString returns a fixed placeholder, so that %#v does not print bytes.
func (s Seed) GoString() string { return "seed.Seed{" + redacted + "}" }

// Format prints the placeholder for every verb, including %x and %d, which
// would otherwise bypass String.
func (s Seed) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, redacted)
}

// MarshalJSON encodes the placeholder string, never the seed.
func (s Seed) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText encodes the placeholder, for encoders that prefer text.
func (s Seed) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog record the placeholder instead of the seed.
func (s Seed) LogValue() slog.Value { return slog.StringValue(redacted) }
