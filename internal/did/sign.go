package did

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/prism-agent/prism-agent/internal/hdkey"
)

// JWS algorithms of the signing curves (RFC 8812 and RFC 8037).
const (
	AlgES256K = "ES256K"
	AlgEdDSA  = "EdDSA"
)

// jwsHeader is the protected header of a signature. kid is "<did>#<key
// id>" with the DID as the caller gave it (short or long form), as the
// Identus agent does; a verifier holding a long form can then resolve the
// key without a ledger.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// Sign signs payload with the key keyID of the DID described by layout and
// returns a compact JWS. did is the DID to name in the header's kid, in
// short or long form; it must be the layout's DID.
//
// secp256k1 keys sign ES256K (ECDSA over SHA-256, R||S, low S); Ed25519
// keys sign EdDSA. Keys that are not for signing (X25519, key agreement,
// master, revocation) return ErrKeyCannotSign: a master key signs PRISM
// operations only, and must not be usable as an oracle over arbitrary
// payloads. The key is derived from seed, checked against the layout's
// public key (ErrKeyMismatch otherwise) and cleared after use.
func Sign(seed []byte, did string, layout KeyLayout, keyID string, payload []byte) (string, error) {
	d, err := Parse(did)
	if err != nil {
		return "", err
	}
	if d.ShortForm() != layout.DID {
		return "", fmt.Errorf("%w: %s does not belong to this key layout", ErrKeyNotFound, d.ShortForm())
	}
	entry, ok := layout.Key(keyID)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrKeyNotFound, keyID)
	}
	alg, err := signingAlg(entry)
	if err != nil {
		return "", err
	}

	path, err := entry.Path(layout.DIDIndex)
	if err != nil {
		return "", fmt.Errorf("key %q: %w", keyID, err)
	}
	key, err := hdkey.Derive(entry.Curve, seed, path)
	if err != nil {
		return "", fmt.Errorf("deriving key %q: %w", keyID, err)
	}
	defer key.Zero()
	if base64.RawURLEncoding.EncodeToString(key.PublicKey()) != entry.PublicKey {
		return "", fmt.Errorf("%w: %q", ErrKeyMismatch, keyID)
	}

	header, err := json.Marshal(jwsHeader{Alg: alg, Kid: d.String() + "#" + keyID})
	if err != nil {
		return "", fmt.Errorf("encoding JWS header: %w", err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	signingInput := b64(header) + "." + b64(payload)

	var sig []byte
	switch alg {
	case AlgES256K:
		sig = signES256K(key.PrivateKey(), []byte(signingInput))
	case AlgEdDSA:
		sig = signEdDSA(key.PrivateKey(), []byte(signingInput))
	}
	return signingInput + "." + b64(sig), nil
}

// signingAlg returns the JWS algorithm of a key, or ErrKeyCannotSign.
func signingAlg(e KeyEntry) (string, error) {
	switch e.Purpose {
	case PurposeAuthentication, PurposeAssertionMethod, PurposeCapabilityInvocation,
		PurposeCapabilityDelegation:
	default:
		return "", fmt.Errorf("%w: %q is a %s key", ErrKeyCannotSign, e.ID, e.Purpose)
	}
	switch e.Curve {
	case Secp256k1:
		return AlgES256K, nil
	case Ed25519:
		return AlgEdDSA, nil
	default:
		return "", fmt.Errorf("%w: %q is a %s key", ErrKeyCannotSign, e.ID, e.Curve)
	}
}

// signES256K signs SHA-256(input) with RFC 6979 deterministic nonces; the
// library returns S in the lower half of the order, as ES256K verifiers
// that reject malleable signatures expect.
func signES256K(private, input []byte) []byte {
	priv := secp256k1.PrivKeyFromBytes(private)
	defer priv.Zero()
	hash := sha256.Sum256(input)
	compact := ecdsa.SignCompact(priv, hash[:], true) // recovery byte || R || S
	return bytes.Clone(compact[1:])
}

func signEdDSA(seed, input []byte) []byte {
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	return ed25519.Sign(priv, input)
}
