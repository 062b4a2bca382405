package hdkey

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// HardenedOffset is added to an index to mark a hardened derivation step
// (BIP32's i ≥ 2^31).
const HardenedOffset uint32 = 1 << 31

// Path segments of the Identus derivation scheme
// m/<wallet-purpose>'/<did-method>'/<did-index>'/<key-purpose>'/<key-index>'.
const (
	// WalletPurpose is 0x1D ("ID"), the Identus identity-wallet purpose.
	WalletPurpose = 29
	// MethodPRISM is 0x1D, the registered did-method segment for did:prism.
	MethodPRISM = 29
)

// maxDepth is the largest depth BIP32 can serialise (one byte).
const maxDepth = 255

// ErrInvalidPath is wrapped by every error about a malformed derivation
// path or an out-of-range index.
var ErrInvalidPath = errors.New("invalid derivation path")

// Path is a derivation path from the master key; each element is a child
// index, with HardenedOffset added for hardened steps. The empty Path is
// the master key itself ("m").
type Path []uint32

// Hardened returns the hardened form of index i, which must be below 2^31.
func Hardened(i uint32) uint32 { return i | HardenedOffset }

// ParsePath reads a path such as "m/0'/1/2H". A hardened step is marked by
// "'", "h" or "H". Indices are decimal without sign or leading zeros and must
// be below 2^31: a larger number is an error, never wrapped into the
// hardened range.
func ParsePath(s string) (Path, error) {
	if s == "m" {
		return Path{}, nil
	}
	rest, ok := strings.CutPrefix(s, "m/")
	if !ok {
		return nil, fmt.Errorf("%w: must start with \"m/\" or be \"m\"", ErrInvalidPath)
	}
	segments := strings.Split(rest, "/")
	if len(segments) > maxDepth {
		return nil, fmt.Errorf("%w: deeper than %d levels", ErrInvalidPath, maxDepth)
	}
	p := make(Path, 0, len(segments))
	for n, seg := range segments {
		i, err := parseSegment(seg)
		if err != nil {
			return nil, fmt.Errorf("%w: step %d: %s", ErrInvalidPath, n+1, err)
		}
		p = append(p, i)
	}
	return p, nil
}

// parseSegment reads one step; its error is a bare description for
// ParsePath to wrap.
func parseSegment(seg string) (uint32, error) {
	hardened := false
	if n := len(seg); n > 0 && (seg[n-1] == '\'' || seg[n-1] == 'h' || seg[n-1] == 'H') {
		hardened = true
		seg = seg[:n-1]
	}
	if seg == "" {
		return 0, errors.New("empty index")
	}
	for _, c := range seg {
		if c < '0' || c > '9' {
			return 0, errors.New("index is not a decimal number")
		}
	}
	if len(seg) > 1 && seg[0] == '0' {
		return 0, errors.New("index has a leading zero")
	}
	v, err := strconv.ParseUint(seg, 10, 32)
	if err != nil || v >= uint64(HardenedOffset) {
		return 0, fmt.Errorf("index must be below %d", HardenedOffset)
	}
	i := uint32(v)
	if hardened {
		i |= HardenedOffset
	}
	return i, nil
}

// PrismPath returns m/29'/29'/<didIndex>'/<keyPurpose>'/<keyIndex>', the
// path of a PRISM DID key. Every argument must be in [0, 2^31).
func PrismPath(didIndex, keyPurpose, keyIndex int) (Path, error) {
	for _, v := range []struct {
		name string
		n    int
	}{{"did-index", didIndex}, {"key-purpose", keyPurpose}, {"key-index", keyIndex}} {
		if v.n < 0 || int64(v.n) >= int64(HardenedOffset) {
			return nil, fmt.Errorf("%w: %s must be in [0, %d), got %d", ErrInvalidPath, v.name,
				HardenedOffset, v.n)
		}
	}
	return Path{
		Hardened(WalletPurpose),
		Hardened(MethodPRISM),
		Hardened(uint32(didIndex)),
		Hardened(uint32(keyPurpose)),
		Hardened(uint32(keyIndex)),
	}, nil
}

// String writes the path in its canonical form, with "'" for hardened steps.
func (p Path) String() string {
	var b strings.Builder
	b.WriteString("m")
	for _, i := range p {
		b.WriteByte('/')
		b.WriteString(strconv.FormatUint(uint64(i&^HardenedOffset), 10))
		if i&HardenedOffset != 0 {
			b.WriteByte('\'')
		}
	}
	return b.String()
}
