package seed

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// bip39Vectors are the official BIP39 English vectors (passphrase
// "TREZOR"), kept in testdata as published in trezor/python-mnemonic's
// vectors.json.
type bip39Vectors struct {
	Source  string      `json:"source"`
	English [][4]string `json:"english"`
}

func loadBIP39Vectors(t *testing.T) [][4]string {
	t.Helper()
	raw, err := os.ReadFile("testdata/bip39-english.json")
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	var v bip39Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decoding vectors: %v", err)
	}
	if len(v.English) != 24 {
		t.Fatalf("want 24 English vectors, got %d", len(v.English))
	}
	return v.English
}

func TestFromMnemonicVectors(t *testing.T) {
	for i, v := range loadBIP39Vectors(t) {
		t.Run(fmt.Sprintf("ok/vector-%02d", i), func(t *testing.T) {
			s, err := FromMnemonic(v[1], "TREZOR")
			if err != nil {
				t.Fatalf("FromMnemonic: %v", err)
			}
			if got := hex.EncodeToString(s.Bytes()); got != v[2] {
				t.Fatalf("seed mismatch\n got %s\nwant %s", got, v[2])
			}
			// Parse must take the same path for a mnemonic.
			p, err := Parse(v[1], "TREZOR")
			if err != nil || !bytes.Equal(p.Bytes(), s.Bytes()) {
				t.Fatalf("Parse differs from FromMnemonic (err %v)", err)
			}
		})
	}
}

func TestFromMnemonicNormalisation(t *testing.T) {
	const want = "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
	inputs := map[string]string{
		"ok/extra-whitespace": "  abandon abandon\tabandon abandon abandon abandon\nabandon abandon abandon abandon abandon  about ",
		"ok/upper-case":       "ABANDON abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon About",
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(in, "TREZOR")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := hex.EncodeToString(s.Bytes()); got != want {
				t.Fatalf("got %s", got)
			}
		})
	}
}

func TestParseHex(t *testing.T) {
	valid := strings.Repeat("00112233445566778899aabbccddeeff", 4)
	tests := []struct {
		name, in, pass string
		wantErr        string
	}{
		{name: "ok", in: valid},
		{name: "ok/upper-case", in: strings.ToUpper(valid)},
		{name: "ok/surrounding-space", in: " " + valid + "\n"},
		{name: "fail/too-short", in: valid[:126], wantErr: "got 126 characters"},
		{name: "fail/too-long", in: valid + "00", wantErr: "got 130 characters"},
		{name: "fail/odd", in: valid[:127], wantErr: "got 127 characters"},
		{name: "fail/not-hex", in: valid[:127] + "g", wantErr: "a mnemonic has"},
		{name: "fail/passphrase-with-hex", in: valid, pass: "x", wantErr: "passphrase applies to mnemonics only"},
		{name: "fail/empty", in: "  ", wantErr: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.in, tc.pass)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if got := hex.EncodeToString(s.Bytes()); got != valid {
					t.Fatalf("got %s", got)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSeed) {
				t.Fatalf("want ErrInvalidSeed, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestFromMnemonicErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"fail/bad-checksum", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", "checksum does not match"},
		{"fail/bad-checksum-24", strings.Repeat("zoo ", 23) + "zoo", "checksum does not match"},
		{"fail/unknown-word", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandonx about", "word 11 is not in the BIP39 English word list"},
		{"fail/word-count", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "got 11"},
		{"fail/word-count-25", strings.Repeat("abandon ", 25), "got 25"},
		{"fail/punctuation", "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo, wrong", "word 11 is not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in, "")
			if !errors.Is(err, ErrInvalidSeed) {
				t.Fatalf("want ErrInvalidSeed, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
			// No word of the input may appear in the message.
			for _, w := range strings.Fields(tc.in) {
				if len(w) > 3 && strings.Contains(err.Error(), w) {
					t.Fatalf("error %q repeats input word %q", err, w)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		in := bytes.Repeat([]byte{7}, Size)
		s, err := New(in)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		in[0] = 8
		if s.Bytes()[0] != 7 {
			t.Fatal("New must copy its input")
		}
	})
	t.Run("fail/short", func(t *testing.T) {
		if _, err := New(make([]byte, 32)); !errors.Is(err, ErrInvalidSeed) {
			t.Fatalf("want ErrInvalidSeed, got %v", err)
		}
	})
}

func TestGenerate(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	b, err := Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if len(a) != Size || len(b) != Size {
		t.Fatalf("lengths %d, %d", len(a), len(b))
	}
	if bytes.Equal(a, b) || bytes.Equal(a, make([]byte, Size)) {
		t.Fatal("generated seeds must differ and not be zero")
	}
}

func TestSeedIsMasked(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, Size)
	s, err := New(raw)
	if err != nil {
		t.Fatal(err)
	}
	secretHex := hex.EncodeToString(raw)

	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("seed", "seed", s)
	js, err := json.Marshal(struct{ S Seed }{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String":   s.String(),
		"GoString": s.GoString(),
		"%v":       fmt.Sprintf("%v", s),
		"%+v":      fmt.Sprintf("%+v", s),
		"%#v":      fmt.Sprintf("%#v", s),
		"%s":       fmt.Sprintf("%s", s),
		"%x":       fmt.Sprintf("%x", s),
		"%X":       fmt.Sprintf("%X", s),
		"%d":       fmt.Sprintf("%d", s),
		"struct":   fmt.Sprintf("%+v", struct{ S Seed }{s}),
		"json":     string(js),
		"slog":     logBuf.String(),
	}
	for name, out := range outputs {
		t.Run("ok/"+name, func(t *testing.T) {
			if !strings.Contains(out, "[redacted]") {
				t.Fatalf("%s output %q lacks the placeholder", name, out)
			}
			if strings.Contains(strings.ToLower(out), "abab") || strings.Contains(out, "171") {
				t.Fatalf("%s output %q leaks seed bytes", name, out)
			}
			if strings.Contains(out, secretHex) {
				t.Fatalf("%s output leaks the seed", name)
			}
		})
	}
}

func TestZero(t *testing.T) {
	s, err := New(bytes.Repeat([]byte{1}, Size))
	if err != nil {
		t.Fatal(err)
	}
	c := s
	s.Zero()
	if !bytes.Equal(c.Bytes(), make([]byte, Size)) {
		t.Fatal("Zero must clear every copy")
	}
	if (Seed{}).IsZero() != true || s.IsZero() {
		t.Fatal("IsZero reports the empty seed only")
	}
}
