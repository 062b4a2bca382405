// Package hdkey derives the private keys of a wallet's PRISM DIDs from the
// wallet seed, on the path m/29'/29'/<did-index>'/<key-purpose>'/<key-index>'
// of the Identus key-derivation scheme.
//
// secp256k1 keys follow BIP32 (through btcutil's hdkeychain, which keeps
// leading zero bytes as the standard requires). Ed25519 and X25519 keys
// follow SLIP-0010, which defines hardened derivation only for them; the
// X25519 variant is SLIP-0010's "curve25519 seed" scheme. Keys are derived
// when needed and never stored: the seed is the only secret.
package hdkey

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Curve names a key type. The values are the curve names written in PRISM
// DID operations and in Identus DID templates.
type Curve string

// Supported curves.
const (
	Secp256k1 Curve = "secp256k1"
	Ed25519   Curve = "Ed25519"
	X25519    Curve = "X25519"
)

// PrivateKeySize is the length of every private key this package returns.
const PrivateKeySize = 32

// Seed length bounds of BIP32 and SLIP-0010 (128 to 512 bits).
const (
	MinSeedSize = 16
	MaxSeedSize = 64
)

// Domain outcomes of derivation, checked with errors.Is.
var (
	// ErrUnsupportedCurve: the curve is not one of Secp256k1, Ed25519, X25519.
	ErrUnsupportedCurve = errors.New("unsupported curve")
	// ErrHardenedOnly: an Ed25519 or X25519 path has a non-hardened step,
	// which SLIP-0010 does not define for these curves.
	ErrHardenedOnly = errors.New("curve supports hardened derivation only")
	// ErrInvalidSeedLength: the seed is outside [MinSeedSize, MaxSeedSize].
	ErrInvalidSeedLength = errors.New("invalid seed length")
	// ErrUnusableKey: BIP32 produced an invalid secp256k1 key at this index
	// (probability below 2^-127). The path is not silently moved to the next
	// index, because a DID's key layout records the index it used.
	ErrUnusableKey = errors.New("derivation produced an unusable key")
)

// Key is a derived key pair. Its String, GoString, Format and LogValue never
// show private material; call Zero when done with it.
type Key struct {
	curve     Curve
	private   []byte
	public    []byte
	chainCode []byte
}

// Curve returns the key's curve.
func (k *Key) Curve() Curve { return k.curve }

// PrivateKey returns the 32-byte private key: the secp256k1 scalar, the
// Ed25519 seed (RFC 8032 private key) or the X25519 scalar before clamping.
// The slice is the Key's own storage; do not keep it past Zero.
func (k *Key) PrivateKey() []byte { return k.private }

// PublicKey returns the public key: 33-byte compressed SEC1 point for
// secp256k1, 32 bytes for Ed25519 and X25519.
func (k *Key) PublicKey() []byte { return append([]byte(nil), k.public...) }

// ChainCode returns the key's 32-byte chain code.
func (k *Key) ChainCode() []byte { return append([]byte(nil), k.chainCode...) }

// Zero overwrites the private key and chain code.
func (k *Key) Zero() {
	clear(k.private)
	clear(k.chainCode)
}

// String describes the key without its private part.
func (k Key) String() string { return "hdkey.Key{" + string(k.curve) + ", [redacted]}" }

// GoString is String, so that %#v does not print the private key.
func (k Key) GoString() string { return k.String() }

// Format prints String for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue makes slog record the curve only.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("curve", string(k.curve)), slog.String("private", "[redacted]"))
}

// Derive derives the key at path from seed on curve.
func Derive(curve Curve, seed []byte, path Path) (*Key, error) {
	if len(seed) < MinSeedSize || len(seed) > MaxSeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, must be %d to %d", ErrInvalidSeedLength,
			len(seed), MinSeedSize, MaxSeedSize)
	}
	if len(path) > maxDepth {
		return nil, fmt.Errorf("%w: deeper than %d levels", ErrInvalidPath, maxDepth)
	}
	switch curve {
	case Secp256k1:
		return deriveSecp256k1(seed, path)
	case Ed25519, X25519:
		return deriveSLIP10(curve, seed, path)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedCurve, curve)
	}
}

// deriveSecp256k1 follows BIP32 private derivation.
func deriveSecp256k1(seed []byte, path Path) (*Key, error) {
	k, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		if errors.Is(err, hdkeychain.ErrUnusableSeed) {
			return nil, fmt.Errorf("%w: master key", ErrUnusableKey)
		}
		return nil, fmt.Errorf("deriving secp256k1 master key: %w", err)
	}
	for n, i := range path {
		child, err := k.Derive(i)
		k.Zero()
		if err != nil {
			if errors.Is(err, hdkeychain.ErrInvalidChild) {
				return nil, fmt.Errorf("%w: step %d of %s", ErrUnusableKey, n+1, path)
			}
			return nil, fmt.Errorf("deriving secp256k1 step %d: %w", n+1, err)
		}
		k = child
	}
	defer k.Zero()

	priv, err := k.ECPrivKey()
	if err != nil {
		return nil, fmt.Errorf("reading secp256k1 private key: %w", err)
	}
	defer priv.Zero()
	// Serialize always returns 32 bytes, restoring leading zeros that the
	// extended key's big-endian form may have dropped.
	private := priv.Serialize()
	if !validScalar(private) {
		clear(private)
		return nil, fmt.Errorf("%w: secp256k1 private key out of range", ErrUnusableKey)
	}
	return &Key{
		curve:     Secp256k1,
		private:   private,
		public:    priv.PubKey().SerializeCompressed(),
		chainCode: k.ChainCode(),
	}, nil
}

// validScalar reports whether b is a 32-byte secp256k1 private key in
// [1, n-1]. hdkeychain already rejects such children; the check is repeated
// here because btcec silently reduces out-of-range bytes modulo n.
func validScalar(b []byte) bool {
	if len(b) != PrivateKeySize {
		return false
	}
	var s secp256k1.ModNScalar
	overflow := s.SetByteSlice(b)
	valid := !overflow && !s.IsZero()
	s.Zero()
	return valid
}

// slip10Domain is the HMAC key of SLIP-0010 master key generation.
var slip10Domain = map[Curve]string{
	Ed25519: "ed25519 seed",
	X25519:  "curve25519 seed",
}

// deriveSLIP10 follows SLIP-0010 for Ed25519 and Curve25519, where every
// 32-byte string is a valid private key, so no retry step exists.
func deriveSLIP10(curve Curve, seed []byte, path Path) (*Key, error) {
	for n, i := range path {
		if i < HardenedOffset {
			return nil, fmt.Errorf("%w: %s step %d of %s is not hardened", ErrHardenedOnly, curve, n+1,
				path)
		}
	}

	mac := hmac.New(sha512.New, []byte(slip10Domain[curve]))
	mac.Write(seed)
	node := mac.Sum(nil) // node[:32] private key, node[32:] chain code

	var data [1 + 32 + 4]byte // 0x00 || private key || ser32(i)
	for _, i := range path {
		copy(data[1:33], node[:32])
		data[33], data[34], data[35], data[36] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		mac = hmac.New(sha512.New, node[32:])
		mac.Write(data[:])
		clear(node)
		node = mac.Sum(node[:0])
	}
	clear(data[:])

	k := &Key{curve: curve, private: node[:32:32], chainCode: append([]byte(nil), node[32:]...)}
	clear(node[32:])
	switch curve {
	case Ed25519:
		priv := ed25519.NewKeyFromSeed(k.private)
		k.public = append([]byte(nil), priv[32:]...)
		clear(priv)
	case X25519:
		priv, err := ecdh.X25519().NewPrivateKey(k.private)
		if err != nil {
			k.Zero()
			return nil, fmt.Errorf("deriving X25519 public key: %w", err)
		}
		k.public = priv.PublicKey().Bytes()
	}
	return k, nil
}
