package did

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/prism-agent/prism-agent/internal/did/prismpb"
)

type publishedDID struct {
	Source string `json:"source"`
	DID    string `json:"did"`
}

func loadPublishedDIDs(t testing.TB) []publishedDID {
	t.Helper()
	raw, err := os.ReadFile("testdata/longform-dids.json")
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	var f struct {
		DIDs []publishedDID `json:"dids"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("decoding vectors: %v", err)
	}
	if len(f.DIDs) < 7 {
		t.Fatalf("want at least 7 published DIDs, got %d", len(f.DIDs))
	}
	return f.DIDs
}

// longFormOf encodes raw operation bytes as a long-form DID with the right
// hash, so that tests reach the checks after the hash.
func longFormOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return Prefix + hex.EncodeToString(sum[:]) + ":" + base64.RawURLEncoding.EncodeToString(raw)
}

func mustMarshal(t *testing.T, op *prismpb.AtalaOperation) []byte {
	t.Helper()
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(op)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// compressedPoint is a valid compressed secp256k1 key (the generator).
var compressedPoint, _ = hex.DecodeString(
	"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")

func testKey(id string, usage prismpb.KeyUsage) *prismpb.PublicKey {
	return &prismpb.PublicKey{Id: id, Usage: usage, KeyData: &prismpb.PublicKey_CompressedEcKeyData{
		CompressedEcKeyData: &prismpb.CompressedECKeyData{Curve: "secp256k1", Data: compressedPoint},
	}}
}

func testOp(keys []*prismpb.PublicKey, services []*prismpb.Service, ctx []string) *prismpb.AtalaOperation {
	return &prismpb.AtalaOperation{Operation: &prismpb.AtalaOperation_CreateDid{
		CreateDid: &prismpb.CreateDIDOperation{DidData: &prismpb.CreateDIDOperation_DIDCreationData{
			PublicKeys: keys, Services: services, Context: ctx,
		}},
	}}
}

func TestParsePublishedDIDs(t *testing.T) {
	for _, v := range loadPublishedDIDs(t) {
		t.Run("ok/"+v.DID[10:18], func(t *testing.T) {
			d, err := ParseLongForm(v.DID)
			if err != nil {
				t.Fatalf("%s: %v", v.Source, err)
			}
			if d.String() != v.DID {
				t.Fatalf("re-encoding differs:\n got %s\nwant %s", d.String(), v.DID)
			}
			if !strings.HasPrefix(v.DID, d.ShortForm()+":") {
				t.Fatalf("short form %s is not a prefix", d.ShortForm())
			}
			raw := d.EncodedOperation()
			sum := sha256.Sum256(raw)
			if hex.EncodeToString(sum[:]) != d.Suffix() {
				t.Fatal("EncodedOperation does not hash to the suffix")
			}
			short, err := Parse(d.ShortForm())
			if err != nil || short.IsLongForm() || short.String() != d.ShortForm() {
				t.Fatalf("short form does not parse back: %v", err)
			}
			doc, err := d.Document()
			if err != nil {
				t.Fatalf("Document: %v", err)
			}
			if doc.ID != v.DID {
				t.Fatalf("document id %s", doc.ID)
			}
		})
	}
}

// TestDocumentOfPublishedDID checks the document shape on the Identus
// documentation's example DID (keys auth-1 and master0, written as
// ECKeyData by the agent of that time).
func TestDocumentOfPublishedDID(t *testing.T) {
	var long string
	for _, v := range loadPublishedDIDs(t) {
		if strings.Contains(v.DID, "4a5b5cf0a513") {
			long = v.DID
		}
	}
	doc, err := ResolveDocument(long)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/suites/jws-2020/v1"],` +
		`"id":"` + long + `","controller":"` + long + `",` +
		`"verificationMethod":[{"id":"` + long + `#auth-1","type":"JsonWebKey2020","controller":"` + long +
		`","publicKeyJwk":{"kty":"EC","crv":"secp256k1",` +
		`"x":"0opTuxu-zt6aRbT1tPniG4eu4CYsQPM3rrLzvzNiNgw","y":"gVOfJPY3hTuoJDvyq1YLf6nR6Xoe-_yrEbm64TD5aAw"}}],` +
		`"authentication":["` + long + `#auth-1"],"assertionMethod":[],"keyAgreement":[],` +
		`"capabilityInvocation":[],"capabilityDelegation":[],"service":[]}`
	if string(got) != want {
		t.Fatalf("document\n got %s\nwant %s", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	published := loadPublishedDIDs(t)[2].DID // the specification's example
	hash, state, _ := strings.Cut(strings.TrimPrefix(published, Prefix), ":")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	master := testKey("master0", prismpb.KeyUsage_MASTER_KEY)
	withUnknownField := protowire.AppendTag(mustMarshal(t, testOp([]*prismpb.PublicKey{master}, nil, nil)),
		15, protowire.VarintType)
	withUnknownField = protowire.AppendVarint(withUnknownField, 1)
	update := protowire.AppendTag(nil, 2, protowire.BytesType) // update_did, empty
	update = protowire.AppendBytes(update, nil)
	duplicated := append(mustMarshal(t, testOp([]*prismpb.PublicKey{master}, nil, nil)),
		mustMarshal(t, testOp([]*prismpb.PublicKey{master}, nil, nil))...)

	badPoint := testKey("master0", prismpb.KeyUsage_MASTER_KEY)
	badPoint.GetCompressedEcKeyData().Data = append([]byte{2}, bytes.Repeat([]byte{0xff}, 32)...) // x >= p
	ledger := testKey("master0", prismpb.KeyUsage_MASTER_KEY)
	ledger.AddedOn = &prismpb.LedgerData{}
	edMaster := &prismpb.PublicKey{Id: "master0", Usage: prismpb.KeyUsage_MASTER_KEY,
		KeyData: &prismpb.PublicKey_CompressedEcKeyData{CompressedEcKeyData: &prismpb.CompressedECKeyData{
			Curve: "Ed25519", Data: make([]byte, 32)}}}
	service := func(id, typ, endpoint string) []*prismpb.Service {
		return []*prismpb.Service{{Id: id, Type: typ, ServiceEndpoint: endpoint}}
	}
	op := func(keys []*prismpb.PublicKey, services []*prismpb.Service, ctx []string) string {
		return longFormOf(mustMarshal(t, testOp(keys, services, ctx)))
	}
	auth := testKey("auth-1", prismpb.KeyUsage_AUTHENTICATION_KEY)

	tests := map[string]string{
		"empty":                 "",
		"other-method":          "did:prizm:" + hash,
		"upper-case-method":     "did:PRISM:" + hash,
		"no-method-id":          Prefix,
		"short-hash":            Prefix + hash[:63],
		"upper-case-hash":       Prefix + strings.ToUpper(hash),
		"non-hex-hash":          Prefix + "g" + hash[1:],
		"network-id":            Prefix + "mainnet:" + hash,
		"empty-state":           Prefix + hash + ":",
		"trailing-section":      published + ":x",
		"trailing-space":        published + " ",
		"padding":               published + "==",
		"std-alphabet":          Prefix + hash + ":" + strings.ReplaceAll(state, "-", "+"),
		"tampered-state":        Prefix + hash + ":" + flip(state, 20),
		"tampered-hash":         Prefix + flip(hash, 5) + ":" + state,
		"non-canonical-base64":  Prefix + hash + ":" + state[:len(state)-1] + "V",
		"truncated-state":       Prefix + hash + ":" + state[:len(state)-2],
		"not-protobuf":          longFormOf([]byte{0xff, 0xff, 0xff}),
		"unknown-field":         longFormOf(withUnknownField),
		"duplicated-fields":     longFormOf(duplicated),
		"update-operation":      longFormOf(update),
		"no-did-data":           longFormOf(mustMarshal(t, &prismpb.AtalaOperation{Operation: &prismpb.AtalaOperation_CreateDid{CreateDid: &prismpb.CreateDIDOperation{}}})),
		"no-master-key":         op([]*prismpb.PublicKey{auth}, nil, nil),
		"ed25519-master":        op([]*prismpb.PublicKey{edMaster}, nil, nil),
		"invalid-point":         op([]*prismpb.PublicKey{badPoint}, nil, nil),
		"ledger-data":           op([]*prismpb.PublicKey{ledger}, nil, nil),
		"duplicate-key-id":      op([]*prismpb.PublicKey{master, testKey("master0", prismpb.KeyUsage_AUTHENTICATION_KEY)}, nil, nil),
		"unknown-usage":         op([]*prismpb.PublicKey{master, testKey("k", prismpb.KeyUsage(42))}, nil, nil),
		"unknown-key-usage-0":   op([]*prismpb.PublicKey{master, testKey("k", prismpb.KeyUsage_UNKNOWN_KEY)}, nil, nil),
		"bad-key-id":            op([]*prismpb.PublicKey{master, testKey("a b", prismpb.KeyUsage_AUTHENTICATION_KEY)}, nil, nil),
		"long-key-id":           op([]*prismpb.PublicKey{master, testKey(strings.Repeat("k", 51), prismpb.KeyUsage_AUTHENTICATION_KEY)}, nil, nil),
		"service-bad-endpoint":  op([]*prismpb.PublicKey{master}, service("s", "LinkedDomains", "not a uri"), nil),
		"service-empty-type":    op([]*prismpb.PublicKey{master}, service("s", "", "https://a.example"), nil),
		"service-empty-array":   op([]*prismpb.PublicKey{master}, service("s", "T", "[]"), nil),
		"service-duplicate-id":  op([]*prismpb.PublicKey{master}, append(service("s", "T", "https://a"), service("s", "T", "https://b")...), nil),
		"service-type-numbers":  op([]*prismpb.PublicKey{master}, service("s", "[1,2]", "https://a"), nil),
		"service-type-spaced":   op([]*prismpb.PublicKey{master}, service("s", `["A", "B"]`, "https://a"), nil),
		"service-spaced-json":   op([]*prismpb.PublicKey{master}, service("s", "T", `{"uri": "https://a"}`), nil),
		"context-not-uri":       op([]*prismpb.PublicKey{master}, nil, []string{"not a uri"}),
		"context-duplicate":     op([]*prismpb.PublicKey{master}, nil, []string{"https://a.example", "https://a.example"}),
		"state-too-long":        Prefix + hash + ":" + strings.Repeat("A", maxEncodedState+1),
		"percent-bad-encoding":  op([]*prismpb.PublicKey{master, testKey("a%2", prismpb.KeyUsage_AUTHENTICATION_KEY)}, nil, nil),
		"ec-key-data-short":     op([]*prismpb.PublicKey{{Id: "master0", Usage: prismpb.KeyUsage_MASTER_KEY, KeyData: &prismpb.PublicKey_EcKeyData{EcKeyData: &prismpb.ECKeyData{Curve: "secp256k1", X: make([]byte, 31), Y: make([]byte, 32)}}}}, nil, nil),
		"unsupported-curve":     op([]*prismpb.PublicKey{master, {Id: "k", Usage: prismpb.KeyUsage_AUTHENTICATION_KEY, KeyData: &prismpb.PublicKey_CompressedEcKeyData{CompressedEcKeyData: &prismpb.CompressedECKeyData{Curve: "P-256", Data: compressedPoint}}}}, nil, nil),
		"lower-case-curve-name": op([]*prismpb.PublicKey{master, {Id: "k", Usage: prismpb.KeyUsage_AUTHENTICATION_KEY, KeyData: &prismpb.PublicKey_CompressedEcKeyData{CompressedEcKeyData: &prismpb.CompressedECKeyData{Curve: "ed25519", Data: make([]byte, 32)}}}}, nil, nil),
	}
	for name, in := range tests {
		t.Run("fail/"+name, func(t *testing.T) {
			if _, err := Parse(in); !errors.Is(err, ErrInvalidDID) {
				t.Fatalf("Parse: want ErrInvalidDID, got %v", err)
			}
		})
	}

	t.Run("ok/accepted-variants", func(t *testing.T) {
		// Identus encodes several types and endpoints as JSON arrays and
		// objects; a percent-encoded id is a valid fragment.
		s := op([]*prismpb.PublicKey{master, testKey("a%20b", prismpb.KeyUsage_REVOCATION_KEY)},
			append(service("s1", `["A","B"]`, `["https://a.example",{"uri":"https://b.example"}]`),
				append(service("s2", "DIDCommMessaging", `{"uri":"https://c.example","accept":["didcomm/v2"]}`),
					service("s3", `["LinkedDomains"]`, "https://d.example")...)...),
			[]string{"https://ctx.example/v1"})
		d, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if d.String() != s {
			t.Fatal("re-encoding differs")
		}
		doc, err := d.Document()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(doc.Service[2].Type); string(got) != `["LinkedDomains"]` {
			t.Fatalf("one-name list rendered as %s", got)
		}
	})
	t.Run("fail/short-form-required-long", func(t *testing.T) {
		if _, err := ParseLongForm(Prefix + hash); !errors.Is(err, ErrInvalidDID) {
			t.Fatalf("want ErrInvalidDID, got %v", err)
		}
	})
	t.Run("fail/document-of-short-form", func(t *testing.T) {
		if _, err := ResolveDocument(Prefix + hash); !errors.Is(err, ErrNotLongForm) {
			t.Fatalf("want ErrNotLongForm, got %v", err)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, v := range loadPublishedDIDs(f) {
		f.Add(v.DID)
		f.Add(strings.SplitN(v.DID, ":", 4)[0] + ":prism:" + strings.SplitN(v.DID, ":", 4)[2])
	}
	f.Add("did:prism:")
	f.Add("did:prism:00:AA")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDID) {
				t.Fatalf("error without ErrInvalidDID: %v", err)
			}
			return
		}
		if d.String() != s {
			t.Fatalf("accepted %q but re-encodes as %q", s, d.String())
		}
		again, err := Parse(d.String())
		if err != nil || again.String() != s {
			t.Fatalf("re-parse failed: %v", err)
		}
		if d.IsLongForm() {
			if _, err := d.Document(); err != nil {
				t.Fatalf("valid long form without document: %v", err)
			}
		}
	})
}

// FuzzParseOperation fuzzes the operation decoder behind a correct hash,
// which random DID strings almost never reach.
func FuzzParseOperation(f *testing.F) {
	for _, v := range loadPublishedDIDs(f) {
		d, err := Parse(v.DID)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(d.EncodedOperation())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := longFormOf(raw)
		d, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDID) {
				t.Fatalf("error without ErrInvalidDID: %v", err)
			}
			return
		}
		if d.String() != s || !bytes.Equal(d.EncodedOperation(), raw) {
			t.Fatal("accepted operation does not round-trip")
		}
		if _, err := d.Document(); err != nil {
			t.Fatalf("valid operation without document: %v", err)
		}
	})
}
