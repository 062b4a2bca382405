package did

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"google.golang.org/protobuf/proto"

	"github.com/prism-agent/prism-agent/internal/did/prismpb"
)

// Prefix starts every PRISM DID.
const Prefix = "did:prism:"

// maxEncodedState bounds the base64url state of a long-form DID. A create
// operation at every limit of the method encodes to about 48 KiB of base64.
const maxEncodedState = 64 << 10

// encoding is base64url without padding, strict so that every state has a
// single spelling (no stray trailing bits).
var encoding = base64.RawURLEncoding.Strict()

// marshal is the protobuf encoding of operations: deterministic, so that
// the same template always gives the same DID.
var marshal = proto.MarshalOptions{Deterministic: true}

// DID is a parsed PRISM DID, short or long form. The zero value is invalid.
type DID struct {
	suffix  string // hex SHA-256 of the encoded operation
	encoded string // base64url state; empty in short form
	op      *prismpb.AtalaOperation
}

// Parse reads a short-form (did:prism:<hash>) or long-form
// (did:prism:<hash>:<state>) DID. A long form must carry a valid create
// operation whose hash is <hash>, encoded canonically: its String is then
// byte-for-byte the input.
func Parse(s string) (DID, error) {
	d, err := parse(s)
	if err != nil {
		return DID{}, fmt.Errorf("%w: %s", ErrInvalidDID, err)
	}
	return d, nil
}

// ParseLongForm is Parse restricted to long-form DIDs.
func ParseLongForm(s string) (DID, error) {
	d, err := Parse(s)
	if err != nil {
		return DID{}, err
	}
	if !d.IsLongForm() {
		return DID{}, fmt.Errorf("%w: a long-form DID is required, got a short form", ErrInvalidDID)
	}
	return d, nil
}

func parse(s string) (DID, error) {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return DID{}, errors.New(`must start with "did:prism:"`)
	}
	suffix, encoded, long := strings.Cut(rest, ":")
	if err := checkSuffix(suffix); err != nil {
		return DID{}, err
	}
	if !long {
		return DID{suffix: suffix}, nil
	}
	op, err := decodeState(suffix, encoded)
	if err != nil {
		return DID{}, err
	}
	return DID{suffix: suffix, encoded: encoded, op: op}, nil
}

func checkSuffix(s string) error {
	if len(s) != 2*sha256.Size {
		return fmt.Errorf("method-specific id must be a %d-character hash", 2*sha256.Size)
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return errors.New("hash must be lower-case hex")
		}
	}
	return nil
}

// decodeState decodes and checks the encoded state of a long-form DID.
func decodeState(suffix, encoded string) (*prismpb.AtalaOperation, error) {
	switch {
	case encoded == "":
		return nil, errors.New("encoded state is empty")
	case len(encoded) > maxEncodedState:
		return nil, fmt.Errorf("encoded state is longer than %d characters", maxEncodedState)
	}
	for _, c := range encoded {
		if !isBase64URL(c) {
			// Covers padding, the standard alphabet and further ':' sections
			// (network identifiers are not part of this method version).
			return nil, errors.New("encoded state must be unpadded base64url")
		}
	}
	raw, err := encoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("encoded state is not canonical base64url")
	}
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != suffix {
		return nil, errors.New("hash does not match the encoded state")
	}

	op := &prismpb.AtalaOperation{}
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, op); err != nil {
		return nil, errors.New("encoded state is not a protobuf AtalaOperation")
	}
	// Re-encoding must give the hashed bytes back. This rejects unknown or
	// repeated fields and non-canonical encodings, so the document rendered
	// from the decoded operation describes exactly what the hash commits to:
	// two parsers cannot read two different documents into one DID.
	again, err := marshal.Marshal(op)
	if err != nil || !bytes.Equal(again, raw) {
		return nil, errors.New("encoded state is not a canonically encoded create operation")
	}
	if err := validateOperation(op); err != nil {
		return nil, err
	}
	return op, nil
}

func isBase64URL(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' ||
		c == '_'
}

// String returns the DID as parsed or created (long form when it has one).
func (d DID) String() string {
	if d.encoded == "" {
		return d.ShortForm()
	}
	return Prefix + d.suffix + ":" + d.encoded
}

// ShortForm returns did:prism:<hash>.
func (d DID) ShortForm() string { return Prefix + d.suffix }

// Suffix returns the hex hash, the DID's method-specific id.
func (d DID) Suffix() string { return d.suffix }

// IsLongForm reports whether d carries its create operation.
func (d DID) IsLongForm() bool { return d.op != nil }

// EncodedOperation returns the protobuf create operation of a long-form
// DID (nil for a short form): the bytes whose SHA-256 is the suffix.
func (d DID) EncodedOperation() []byte {
	if d.encoded == "" {
		return nil
	}
	raw, _ := encoding.DecodeString(d.encoded)
	return raw
}

// newLongForm builds the DID of an encoded operation.
func newLongForm(raw []byte, op *prismpb.AtalaOperation) DID {
	sum := sha256.Sum256(raw)
	return DID{suffix: hex.EncodeToString(sum[:]), encoded: encoding.EncodeToString(raw), op: op}
}

// publicKey is a decoded key of an operation.
type publicKey struct {
	id      string
	purpose Purpose
	curve   Curve
	raw     []byte // compressed secp256k1 point, or the 32 bytes of an Ed25519/X25519 key
}

// validateOperation applies the create-operation rules of the PRISM method
// and of the Identus Cloud Agent's validator. It does not apply the
// template-only rules (which curve a purpose may use, reserved ids), since
// other wallets may create DIDs that are valid without them.
func validateOperation(op *prismpb.AtalaOperation) error {
	create := op.GetCreateDid()
	if create == nil {
		return errors.New("encoded state is not a create-DID operation")
	}
	data := create.GetDidData()
	if data == nil {
		return errors.New("create operation has no DID data")
	}
	keys, err := decodeKeys(data.GetPublicKeys())
	if err != nil {
		return err
	}
	masters := 0
	for _, k := range keys {
		if k.purpose == PurposeMaster {
			if k.curve != Secp256k1 {
				return fmt.Errorf("master key %q must be secp256k1", k.id)
			}
			masters++
		}
	}
	if masters == 0 {
		return errors.New("create operation has no master key")
	}
	if err := validateServices(data.GetServices()); err != nil {
		return err
	}
	return validateContexts(data.GetContext(), -1)
}

func decodeKeys(pks []*prismpb.PublicKey) ([]publicKey, error) {
	if len(pks) > MaxPublicKeys {
		return nil, fmt.Errorf("%d public keys, at most %d", len(pks), MaxPublicKeys)
	}
	seen := map[string]bool{}
	keys := make([]publicKey, 0, len(pks))
	for i, pk := range pks {
		k, err := decodeKey(pk)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i+1, err)
		}
		if seen[k.id] {
			return nil, fmt.Errorf("public key %d: duplicate id %q", i+1, k.id)
		}
		seen[k.id] = true
		keys = append(keys, k)
	}
	return keys, nil
}

func decodeKey(pk *prismpb.PublicKey) (publicKey, error) {
	if err := validateFragment(pk.GetId()); err != nil {
		return publicKey{}, err
	}
	purpose, ok := usagePurpose[pk.GetUsage()]
	if !ok {
		return publicKey{}, fmt.Errorf("key %q has unknown usage %d", pk.GetId(), pk.GetUsage())
	}
	if pk.GetAddedOn() != nil || pk.GetRevokedOn() != nil {
		return publicKey{}, fmt.Errorf("key %q carries ledger data", pk.GetId())
	}
	k := publicKey{id: pk.GetId(), purpose: purpose}
	var err error
	switch data := pk.GetKeyData().(type) {
	case *prismpb.PublicKey_CompressedEcKeyData:
		k.curve, k.raw, err = decodeCompressed(data.CompressedEcKeyData)
	case *prismpb.PublicKey_EcKeyData:
		k.curve, k.raw, err = decodeUncompressed(data.EcKeyData)
	default:
		err = errors.New("no key data")
	}
	if err != nil {
		return publicKey{}, fmt.Errorf("key %q: %w", pk.GetId(), err)
	}
	return k, nil
}

func decodeCompressed(d *prismpb.CompressedECKeyData) (Curve, []byte, error) {
	curve := Curve(d.GetCurve())
	raw := d.GetData()
	switch curve {
	case Secp256k1:
		if len(raw) != secp256k1.PubKeyBytesLenCompressed {
			return "", nil, fmt.Errorf("compressed secp256k1 key is %d bytes, want %d", len(raw),
				secp256k1.PubKeyBytesLenCompressed)
		}
		if _, err := secp256k1.ParsePubKey(raw); err != nil {
			return "", nil, errors.New("not a secp256k1 point")
		}
	case Ed25519, X25519:
		if len(raw) != 32 {
			return "", nil, fmt.Errorf("%s key is %d bytes, want 32", curve, len(raw))
		}
	default:
		return "", nil, fmt.Errorf("unsupported curve %q", d.GetCurve())
	}
	return curve, append([]byte(nil), raw...), nil
}

// decodeUncompressed reads ECKeyData, which some SDKs write for secp256k1
// keys (x and y, 32 bytes each) and which carries an OKP key in x.
func decodeUncompressed(d *prismpb.ECKeyData) (Curve, []byte, error) {
	curve := Curve(d.GetCurve())
	switch curve {
	case Secp256k1:
		if len(d.GetX()) != 32 || len(d.GetY()) != 32 {
			return "", nil, errors.New("secp256k1 coordinates must be 32 bytes each")
		}
		point := append(append([]byte{0x04}, d.GetX()...), d.GetY()...)
		pub, err := secp256k1.ParsePubKey(point)
		if err != nil {
			return "", nil, errors.New("not a secp256k1 point")
		}
		return curve, pub.SerializeCompressed(), nil
	case Ed25519, X25519:
		if len(d.GetX()) != 32 || len(d.GetY()) != 0 {
			return "", nil, fmt.Errorf("%s key must be 32 bytes of x and no y", curve)
		}
		return curve, append([]byte(nil), d.GetX()...), nil
	default:
		return "", nil, fmt.Errorf("unsupported curve %q", d.GetCurve())
	}
}

func validateServices(services []*prismpb.Service) error {
	if len(services) > MaxServices {
		return fmt.Errorf("%d services, at most %d", len(services), MaxServices)
	}
	seen := map[string]bool{}
	for i, s := range services {
		if err := validateFragment(s.GetId()); err != nil {
			return fmt.Errorf("service %d: %w", i+1, err)
		}
		if seen[s.GetId()] {
			return fmt.Errorf("service %d: duplicate id %q", i+1, s.GetId())
		}
		seen[s.GetId()] = true
		if s.GetAddedOn() != nil || s.GetDeletedOn() != nil {
			return fmt.Errorf("service %q carries ledger data", s.GetId())
		}
		if _, err := decodeServiceType(s.GetType()); err != nil {
			return fmt.Errorf("service %q: %w", s.GetId(), err)
		}
		if _, err := decodeServiceEndpoint(s.GetServiceEndpoint()); err != nil {
			return fmt.Errorf("service %q: %w", s.GetId(), err)
		}
	}
	return nil
}

// validateFragment checks a key or service id of an operation: a non-empty
// URI fragment (RFC 3986: pchar, "/" and "?", with well-formed
// percent-encoding) of at most MaxIDLength characters.
func validateFragment(id string) error {
	if id == "" {
		return errors.New("id is empty")
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("id is %d characters, at most %d", len(id), MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0:
		case c == '%' && i+2 < len(id) && isHex(id[i+1]) && isHex(id[i+2]):
			i += 2
		default:
			return fmt.Errorf("id %q is not a URI fragment", id)
		}
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
