package hdkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/base58"
)

// bip32File holds BIP-0032's test vectors 1-5 as published in the BIP.
type bip32File struct {
	Valid []struct {
		Vector int    `json:"vector"`
		Seed   string `json:"seed"`
		Chains []struct {
			Path string `json:"path"`
			Xpub string `json:"xpub"`
			Xprv string `json:"xprv"`
		} `json:"chains"`
	} `json:"valid"`
	Invalid []struct {
		Key    string `json:"key"`
		Reason string `json:"reason"`
	} `json:"invalid"`
}

// slip10File holds SLIP-0010's vectors for ed25519, curve25519 and
// secp256k1.
type slip10File struct {
	Vectors []struct {
		Curve  string `json:"curve"`
		Seed   string `json:"seed"`
		Chains []struct {
			Path      string `json:"path"`
			ChainCode string `json:"chainCode"`
			Private   string `json:"private"`
			Public    string `json:"public"`
		} `json:"chains"`
	} `json:"vectors"`
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vectors: %v", err)
	}
	return b
}

// extendedKey is the BIP32 serialisation of an extended key, decoded here
// independently of the code under test.
type extendedKey struct {
	version   []byte
	chainCode []byte
	key       []byte // 33 bytes: 0x00||private key, or compressed public key
}

// decodeExtended checks the Base58Check checksum and splits the 78-byte
// payload. It does not validate contents: vector 5 needs the raw fields.
func decodeExtended(s string) (extendedKey, error) {
	raw := base58.Decode(s)
	if len(raw) != 82 {
		return extendedKey{}, fmt.Errorf("length %d", len(raw))
	}
	payload, sum := raw[:78], raw[78:]
	first := sha256.Sum256(payload)
	second := sha256.Sum256(first[:])
	if !bytes.Equal(second[:4], sum) {
		return extendedKey{}, errors.New("bad checksum")
	}
	return extendedKey{version: payload[:4], chainCode: payload[13:45], key: payload[45:78]}, nil
}

func TestBIP32Vectors(t *testing.T) {
	var f bip32File
	readJSON(t, "testdata/bip32-vectors.json", &f)
	if len(f.Valid) != 4 {
		t.Fatalf("want vectors 1-4, got %d", len(f.Valid))
	}
	for _, v := range f.Valid {
		seed := mustHex(t, v.Seed)
		for _, c := range v.Chains {
			t.Run(fmt.Sprintf("ok/vector-%d/%s", v.Vector, c.Path), func(t *testing.T) {
				path, err := ParsePath(c.Path)
				if err != nil {
					t.Fatalf("ParsePath: %v", err)
				}
				k, err := Derive(Secp256k1, seed, path)
				if err != nil {
					t.Fatalf("Derive: %v", err)
				}
				prv, err := decodeExtended(c.Xprv)
				if err != nil {
					t.Fatalf("decoding xprv: %v", err)
				}
				pub, err := decodeExtended(c.Xpub)
				if err != nil {
					t.Fatalf("decoding xpub: %v", err)
				}
				if prv.key[0] != 0 {
					t.Fatalf("xprv key does not start with 0x00")
				}
				if got := k.PrivateKey(); len(got) != PrivateKeySize || !bytes.Equal(got, prv.key[1:]) {
					t.Errorf("private key\n got %x\nwant %x", got, prv.key[1:])
				}
				if got := k.ChainCode(); !bytes.Equal(got, prv.chainCode) {
					t.Errorf("chain code\n got %x\nwant %x", got, prv.chainCode)
				}
				if got := k.PublicKey(); !bytes.Equal(got, pub.key) {
					t.Errorf("public key\n got %x\nwant %x", got, pub.key)
				}
			})
		}
	}
}

// TestBIP32Vector5 covers what of BIP32's invalid-key vectors applies to a
// deriver that never imports extended keys: the private-key range check.
// The other entries (versions, depth, fingerprint, public key prefixes,
// checksum) concern parsing serialised keys, which this package does not
// offer; they are still decoded to prove the file is the published list.
func TestBIP32Vector5(t *testing.T) {
	var f bip32File
	readJSON(t, "testdata/bip32-vectors.json", &f)
	if len(f.Invalid) != 16 {
		t.Fatalf("want 16 invalid keys, got %d", len(f.Invalid))
	}
	ranged := 0
	for _, v := range f.Invalid {
		if !strings.HasPrefix(v.Reason, "private key") {
			continue
		}
		ranged++
		t.Run("fail/"+v.Reason, func(t *testing.T) {
			k, err := decodeExtended(v.Key)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if validScalar(k.key[1:]) {
				t.Fatalf("%x accepted as a private key", k.key[1:])
			}
		})
	}
	if ranged != 2 {
		t.Fatalf("want 2 private-key range cases, got %d", ranged)
	}
	t.Run("ok/in-range", func(t *testing.T) {
		one := make([]byte, 32)
		one[31] = 1
		if !validScalar(one) {
			t.Fatal("1 rejected")
		}
	})
}

func TestSLIP10Vectors(t *testing.T) {
	var f slip10File
	readJSON(t, "testdata/slip10-vectors.json", &f)
	curves := map[string]Curve{"ed25519": Ed25519, "curve25519": X25519, "secp256k1": Secp256k1}
	count := map[Curve]int{}
	for _, v := range f.Vectors {
		curve := curves[v.Curve]
		seed := mustHex(t, v.Seed)
		count[curve]++
		for _, c := range v.Chains {
			name := fmt.Sprintf("ok/%s/seed-%d/%s", v.Curve, count[curve], c.Path)
			t.Run(name, func(t *testing.T) {
				path, err := ParsePath(c.Path)
				if err != nil {
					t.Fatalf("ParsePath: %v", err)
				}
				k, err := Derive(curve, seed, path)
				if err != nil {
					t.Fatalf("Derive: %v", err)
				}
				if got := hex.EncodeToString(k.ChainCode()); got != c.ChainCode {
					t.Errorf("chain code\n got %s\nwant %s", got, c.ChainCode)
				}
				if got := hex.EncodeToString(k.PrivateKey()); got != c.Private {
					t.Errorf("private key\n got %s\nwant %s", got, c.Private)
				}
				pub := hex.EncodeToString(k.PublicKey())
				if curve != Secp256k1 {
					// SLIP-0010 prints 32-byte public keys with a 0x00 prefix.
					pub = "00" + pub
				}
				if pub != c.Public {
					t.Errorf("public key\n got %s\nwant %s", pub, c.Public)
				}
			})
		}
	}
	for _, c := range []Curve{Ed25519, X25519, Secp256k1} {
		if count[c] != 2 {
			t.Fatalf("want both seeds for %s, got %d", c, count[c])
		}
	}
}

func TestParsePath(t *testing.T) {
	h := HardenedOffset
	ok := []struct {
		in   string
		want Path
		str  string
	}{
		{"m", Path{}, "m"},
		{"m/0", Path{0}, "m/0"},
		{"m/0'/1/2H", Path{h, 1, h + 2}, "m/0'/1/2'"},
		{"m/0h/2147483647h", Path{h, h + 2147483647}, "m/0'/2147483647'"},
		{"m/2147483647", Path{2147483647}, "m/2147483647"},
		{"m/29'/29'/0'/4'/0'", Path{h + 29, h + 29, h, h + 4, h}, "m/29'/29'/0'/4'/0'"},
	}
	for _, tc := range ok {
		t.Run("ok/"+tc.in, func(t *testing.T) {
			p, err := ParsePath(tc.in)
			if err != nil {
				t.Fatalf("ParsePath: %v", err)
			}
			if fmt.Sprint([]uint32(p)) != fmt.Sprint([]uint32(tc.want)) {
				t.Fatalf("got %v, want %v", p, tc.want)
			}
			if p.String() != tc.str {
				t.Fatalf("String() = %q, want %q", p.String(), tc.str)
			}
		})
	}
	fail := map[string]string{
		"empty":            "",
		"no-m":             "0'/1",
		"capital-M":        "M/0",
		"trailing-slash":   "m/0/",
		"empty-step":       "m/0//1",
		"only-marker":      "m/'",
		"negative":         "m/-1",
		"plus":             "m/+1",
		"leading-zero":     "m/01",
		"space":            "m/ 1",
		"hex":              "m/0x1",
		"double-marker":    "m/1''",
		"2^31":             "m/2147483648",
		"2^31-hardened":    "m/2147483648'",
		"2^32":             "m/4294967296",
		"huge":             "m/99999999999999999999",
		"unknown-marker":   "m/1p",
		"too-deep":         "m/" + strings.Repeat("0/", 255) + "0",
		"m-with-separator": "m/",
	}
	for name, in := range fail {
		t.Run("fail/"+name, func(t *testing.T) {
			if _, err := ParsePath(in); !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("ParsePath(%q): want ErrInvalidPath, got %v", in, err)
			}
		})
	}
}

func TestPrismPath(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		p, err := PrismPath(3, 4, 5)
		if err != nil {
			t.Fatal(err)
		}
		if p.String() != "m/29'/29'/3'/4'/5'" {
			t.Fatalf("got %s", p)
		}
	})
	t.Run("ok/largest", func(t *testing.T) {
		p, err := PrismPath(1<<31-1, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.String() != "m/29'/29'/2147483647'/1'/0'" {
			t.Fatalf("got %s", p)
		}
	})
	for name, args := range map[string][3]int{
		"fail/negative-did-index": {-1, 1, 0},
		"fail/did-index-2^31":     {1 << 31, 1, 0},
		"fail/key-index-2^31":     {0, 1, 1 << 31},
		"fail/negative-purpose":   {0, -4, 0},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := PrismPath(args[0], args[1], args[2]); !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("want ErrInvalidPath, got %v", err)
			}
		})
	}
}

func TestDeriveErrors(t *testing.T) {
	seed := bytes.Repeat([]byte{1}, 64)
	tests := []struct {
		name  string
		curve Curve
		seed  []byte
		path  string
		want  error
	}{
		{"fail/ed25519-non-hardened", Ed25519, seed, "m/0'/1", ErrHardenedOnly},
		{"fail/x25519-non-hardened", X25519, seed, "m/1", ErrHardenedOnly},
		{"fail/unknown-curve", Curve("P-256"), seed, "m/0'", ErrUnsupportedCurve},
		{"fail/lower-case-curve", Curve("ed25519"), seed, "m/0'", ErrUnsupportedCurve},
		{"fail/short-seed", Secp256k1, seed[:15], "m/0'", ErrInvalidSeedLength},
		{"fail/long-seed", Ed25519, append(seed, 0), "m/0'", ErrInvalidSeedLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Derive(tc.curve, tc.seed, p); !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
		})
	}
}

func TestPrismKeysAreDistinct(t *testing.T) {
	seed := bytes.Repeat([]byte{9}, 64)
	seen := map[string]string{}
	for _, c := range []Curve{Secp256k1, Ed25519, X25519} {
		for _, args := range [][3]int{{0, 1, 0}, {0, 4, 0}, {0, 4, 1}, {1, 4, 0}} {
			p, err := PrismPath(args[0], args[1], args[2])
			if err != nil {
				t.Fatal(err)
			}
			k, err := Derive(c, seed, p)
			if err != nil {
				t.Fatalf("%s %s: %v", c, p, err)
			}
			id := string(c) + " " + p.String()
			priv := hex.EncodeToString(k.PrivateKey())
			if other, dup := seen[priv]; dup {
				t.Fatalf("%s and %s share a private key", id, other)
			}
			seen[priv] = id
		}
	}
}

func TestKeyIsMasked(t *testing.T) {
	p, _ := PrismPath(0, 4, 0)
	k, err := Derive(Ed25519, bytes.Repeat([]byte{3}, 64), p)
	if err != nil {
		t.Fatal(err)
	}
	secret := hex.EncodeToString(k.PrivateKey())
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("key", "key", k)
	for _, out := range []string{
		fmt.Sprint(k), fmt.Sprintf("%#v", k), fmt.Sprintf("%x", k), fmt.Sprintf("%+v", *k),
		logBuf.String(),
	} {
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprint(k.PrivateKey()[:4])) {
			t.Fatalf("output %q leaks the private key", out)
		}
	}
	k.Zero()
	if !bytes.Equal(k.PrivateKey(), make([]byte, 32)) {
		t.Fatal("Zero left private bytes")
	}
}

func BenchmarkDerive(b *testing.B) {
	seed := bytes.Repeat([]byte{0x5a}, 64)
	path, err := PrismPath(0, 4, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []Curve{Secp256k1, Ed25519, X25519} {
		b.Run(string(c), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k, err := Derive(c, seed, path)
				if err != nil {
					b.Fatal(err)
				}
				k.Zero()
			}
		})
	}
}

// TestPrismSpecKeys checks the secp256k1 private keys that the PRISM
// method's deterministic-DID proposal publishes for its test seed.
func TestPrismSpecKeys(t *testing.T) {
	seed := mustHex(t, "3b32a5049f2b4e3af31ec5c1ae75fada1ad2eb8be5accf56ada343ad89eeb083"+
		"208e538b3b97836e3bd7048c131421bf5bea9e3a1d25812a2d831e2bab89e058")
	want := map[string]string{
		"m/29'/29'/0'/1'/0'": "158bf13202ccafe551b5b4e60ed516efe0fe190e5c1421c3387f0f9fef2a6111",
		"m/29'/29'/0'/1'/1'": "a6836a79808f82cf91a443e6040041f12799a2567039b29b72bb0a31357368d1",
		"m/29'/29'/0'/8'/0'": "12d9eda38cc9a8a26b3ffb5d421367977bb3adbe766e188ec54f3c713d123681",
		"m/29'/29'/1'/1'/0'": "7419c4c397bcc7209dadbd8a7b9a957ea9266bea605867a330b5d40073e9df30",
		"m/29'/29'/1'/1'/1'": "9525cb7bfbce9b34da5e730aa82d5a1779bd5a337777909059a9ee91b244d561",
		"m/29'/29'/1'/8'/0'": "856b8496af764af3f8b864f3dbf00be61aeee46e531f07248ff77dc58eb51160",
		"m/29'/29'/2'/1'/0'": "591f15d298c49611003bf7b85b7d4b4d100aa34a9680e1faf55a409f837e2f96",
		"m/29'/29'/2'/1'/1'": "61a9950ff1c6cb3775e2776c7772ed1bd0bd8f9ced15cffd7d633f893ef55cd8",
		"m/29'/29'/2'/8'/0'": "1e17ca1575b2084366441abb2c109fc0600e495e6b7097d1678645b7662d4ca6",
	}
	for path, priv := range want {
		t.Run("ok/"+path, func(t *testing.T) {
			p, err := ParsePath(path)
			if err != nil {
				t.Fatal(err)
			}
			k, err := Derive(Secp256k1, seed, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(k.PrivateKey()); got != priv {
				t.Fatalf("got %s, want %s", got, priv)
			}
		})
	}
	t.Run("ok/master-public-key", func(t *testing.T) {
		p, _ := PrismPath(0, 1, 0)
		k, err := Derive(Secp256k1, seed, p)
		if err != nil {
			t.Fatal(err)
		}
		const pub = "023f7c75c9e5fba08fea1640d6faa3f8dc0151261d2b56026d46ddcbe1fc5a5bbb"
		if got := hex.EncodeToString(k.PublicKey()); got != pub {
			t.Fatalf("got %s", got)
		}
	})
}
