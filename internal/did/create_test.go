package did

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prism-agent/prism-agent/internal/hdkey"
)

// specSeed is the seed of the PRISM method's deterministic-DID proposal
// (mnemonic "vacuum only object ... educate knock", empty passphrase).
var specSeed, _ = hex.DecodeString("3b32a5049f2b4e3af31ec5c1ae75fada1ad2eb8be5accf56ada343ad89eeb08" +
	"3208e538b3b97836e3bd7048c131421bf5bea9e3a1d25812a2d831e2bab89e058")

func endpoint(s string) ServiceEndpoint { return ServiceEndpoint(s) }

func TestTemplateValidate(t *testing.T) {
	key := func(id string, p Purpose, c Curve) PublicKeyTemplate {
		return PublicKeyTemplate{ID: id, Purpose: p, Curve: c}
	}
	svc := func(id string, typ ServiceType, ep string) ServiceTemplate {
		return ServiceTemplate{ID: id, Type: typ, ServiceEndpoint: endpoint(ep)}
	}
	many := func(n int) []PublicKeyTemplate {
		ks := make([]PublicKeyTemplate, n)
		for i := range ks {
			ks[i] = key(fmt.Sprintf("k%d", i), PurposeAuthentication, "")
		}
		return ks
	}
	tests := []struct {
		name    string
		tmpl    Template
		wantErr string
	}{
		{name: "ok/default-curve", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("auth-1", PurposeAuthentication, "")}}},
		{name: "ok/every-allowed-pair", tmpl: Template{PublicKeys: []PublicKeyTemplate{
			key("a", PurposeAuthentication, Secp256k1), key("b", PurposeAssertionMethod, Secp256k1),
			key("c", PurposeKeyAgreement, Secp256k1), key("d", PurposeCapabilityInvocation, Secp256k1),
			key("e", PurposeCapabilityDelegation, Secp256k1), key("f", PurposeAuthentication, Ed25519),
			key("g", PurposeAssertionMethod, Ed25519), key("h", PurposeKeyAgreement, X25519),
		}}},
		{name: "ok/services-and-contexts", tmpl: Template{
			PublicKeys: []PublicKeyTemplate{key("k", PurposeAuthentication, "")},
			Services: []ServiceTemplate{
				svc("s1", ServiceType{Names: []string{"LinkedDomains"}}, `"https://example.com/"`),
				svc("s2", ServiceType{Names: []string{"A", "B"}, List: true}, `["https://a.example",{"uri":"https://b.example"}]`),
				svc("s3", ServiceType{Names: []string{"DIDCommMessaging"}}, `{"uri":"https://c.example"}`),
			},
			Contexts: []string{"https://example.com/ctx/v1"},
		}},
		{name: "ok/max-keys", tmpl: Template{PublicKeys: many(MaxPublicKeys - 1)}},
		{name: "fail/no-keys", tmpl: Template{}, wantErr: "at least one public key"},
		{name: "fail/too-many-keys", tmpl: Template{PublicKeys: many(MaxPublicKeys)}, wantErr: "at most 49 public keys"},
		{name: "fail/reserved-id", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("master0", PurposeAuthentication, "")}}, wantErr: "reserved"},
		{name: "fail/duplicate-id", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, ""), key("a", PurposeAssertionMethod, "")}}, wantErr: `duplicate id "a"`},
		{name: "fail/key-and-service-share-id", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("a", ServiceType{Names: []string{"T"}}, `"https://x"`)}}, wantErr: "already used by a public key"},
		{name: "fail/empty-id", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("", PurposeAuthentication, "")}}, wantErr: "id is empty"},
		{name: "fail/id-with-slash", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a/b", PurposeAuthentication, "")}}, wantErr: "may contain only"},
		{name: "fail/id-with-hash", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a#b", PurposeAuthentication, "")}}, wantErr: "may contain only"},
		{name: "fail/id-dot-start", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("..", PurposeAuthentication, "")}}, wantErr: "may contain only"},
		{name: "fail/id-too-long", tmpl: Template{PublicKeys: []PublicKeyTemplate{key(strings.Repeat("a", 51), PurposeAuthentication, "")}}, wantErr: "at most 50"},
		{name: "fail/unknown-purpose", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", "issuing", "")}}, wantErr: "unknown purpose"},
		{name: "fail/master-purpose", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeMaster, "")}}, wantErr: "internal"},
		{name: "fail/revocation-purpose", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeRevocation, "")}}, wantErr: "internal"},
		{name: "fail/unknown-curve", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "P-256")}}, wantErr: "unknown curve"},
		{name: "fail/ed25519-key-agreement", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeKeyAgreement, Ed25519)}}, wantErr: "cannot be used for keyAgreement"},
		{name: "fail/ed25519-capability", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeCapabilityInvocation, Ed25519)}}, wantErr: "cannot be used"},
		{name: "fail/x25519-authentication", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, X25519)}}, wantErr: "cannot be used for authentication"},
		{name: "fail/service-no-endpoint", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{{ID: "s", Type: ServiceType{Names: []string{"T"}}}}}, wantErr: "endpoint is not valid JSON"},
		{name: "fail/service-relative-uri", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("s", ServiceType{Names: []string{"T"}}, `"/relative"`)}}, wantErr: "absolute URI"},
		{name: "fail/service-number", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("s", ServiceType{Names: []string{"T"}}, `42`)}}, wantErr: "must be a URI"},
		{name: "fail/service-empty-array", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("s", ServiceType{Names: []string{"T"}}, `[]`)}}, wantErr: "empty array"},
		{name: "fail/service-array-item", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("s", ServiceType{Names: []string{"T"}}, `["https://a", 1]`)}}, wantErr: "item 2"},
		{name: "fail/service-endpoint-too-long", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("s", ServiceType{Names: []string{"T"}}, `"https://a.example/`+strings.Repeat("x", 300)+`"`)}}, wantErr: "at most 300"},
		{name: "fail/service-no-type", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("s", ServiceType{}, `"https://a"`)}}, wantErr: "type is empty"},
		{name: "fail/service-type-space", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("s", ServiceType{Names: []string{" T"}}, `"https://a"`)}}, wantErr: "white space"},
		{name: "fail/service-duplicate", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Services: []ServiceTemplate{svc("s", ServiceType{Names: []string{"T"}}, `"https://a"`), svc("s", ServiceType{Names: []string{"T"}}, `"https://b"`)}}, wantErr: `duplicate id "s"`},
		{name: "fail/context-not-uri", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Contexts: []string{"ctx"}}, wantErr: "context 1"},
		{name: "fail/context-duplicate", tmpl: Template{PublicKeys: []PublicKeyTemplate{key("a", PurposeAuthentication, "")}, Contexts: []string{"https://a", "https://a"}}, wantErr: "duplicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tmpl.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidTemplate) {
				t.Fatalf("want ErrInvalidTemplate, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
			if _, err := Create(specSeed, 0, tc.tmpl); !errors.Is(err, ErrInvalidTemplate) {
				t.Fatalf("Create: want ErrInvalidTemplate, got %v", err)
			}
		})
	}
}

func TestTemplateJSON(t *testing.T) {
	in := `{"publicKeys":[{"id":"auth-1","purpose":"authentication"},` +
		`{"id":"ka","purpose":"keyAgreement","curve":"X25519"}],` +
		`"services":[{"id":"ld","type":"LinkedDomains","serviceEndpoint":"https://example.com"},` +
		`{"id":"m","type":["A","B"],"serviceEndpoint":{"uri":"https://m.example","accept":["didcomm/v2"]}}],` +
		`"contexts":["https://example.com/ctx"]}`
	var tmpl Template
	if err := json.Unmarshal([]byte(in), &tmpl); err != nil {
		t.Fatal(err)
	}
	if err := tmpl.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(tmpl.Services[1].Type.Names) != 2 || tmpl.PublicKeys[0].curve() != Secp256k1 {
		t.Fatalf("decoded %+v", tmpl)
	}
	out, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Fatalf("round trip\n got %s\nwant %s", out, in)
	}
}

// wantPath derives the key at an explicit path, independently of Create's
// index allocation.
func wantPath(t *testing.T, curve Curve, path string) string {
	t.Helper()
	p, err := hdkey.ParsePath(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := hdkey.Derive(curve, specSeed, p)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(k.PublicKey())
}

func TestCreateKeyLayout(t *testing.T) {
	tmpl := Template{PublicKeys: []PublicKeyTemplate{
		{ID: "auth-ed", Purpose: PurposeAuthentication, Curve: Ed25519},
		{ID: "auth-1", Purpose: PurposeAuthentication},
		{ID: "issue-1", Purpose: PurposeAssertionMethod},
		{ID: "auth-2", Purpose: PurposeAuthentication, Curve: Secp256k1},
		{ID: "ka-x", Purpose: PurposeKeyAgreement, Curve: X25519},
		{ID: "ka-1", Purpose: PurposeKeyAgreement},
		{ID: "auth-ed2", Purpose: PurposeAuthentication, Curve: Ed25519},
		{ID: "inv-1", Purpose: PurposeCapabilityInvocation},
		{ID: "del-1", Purpose: PurposeCapabilityDelegation},
	}}
	c, err := Create(specSeed, 7, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id    string
		curve Curve
		path  string
	}{
		{"auth-ed", Ed25519, "m/29'/29'/7'/4'/0'"},
		{"auth-1", Secp256k1, "m/29'/29'/7'/4'/0'"},
		{"issue-1", Secp256k1, "m/29'/29'/7'/2'/0'"},
		{"auth-2", Secp256k1, "m/29'/29'/7'/4'/1'"},
		{"ka-x", X25519, "m/29'/29'/7'/3'/0'"},
		{"ka-1", Secp256k1, "m/29'/29'/7'/3'/0'"},
		{"auth-ed2", Ed25519, "m/29'/29'/7'/4'/1'"},
		{"inv-1", Secp256k1, "m/29'/29'/7'/6'/0'"},
		{"del-1", Secp256k1, "m/29'/29'/7'/7'/0'"},
		{"master0", Secp256k1, "m/29'/29'/7'/1'/0'"},
	}
	if c.Layout.DID != c.ShortForm || c.Layout.DIDIndex != 7 || len(c.Layout.Keys) != len(want) {
		t.Fatalf("layout %+v", c.Layout)
	}
	for i, w := range want {
		e := c.Layout.Keys[i]
		p, err := e.Path(c.Layout.DIDIndex)
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != w.id || e.Curve != w.curve || p.String() != w.path {
			t.Errorf("key %d: got %s %s %s, want %s %s %s", i, e.ID, e.Curve, p, w.id, w.curve, w.path)
		}
		if e.PublicKey != wantPath(t, w.curve, w.path) {
			t.Errorf("key %s: public key is not the key at %s", w.id, w.path)
		}
	}

	// The layout survives storage as JSON.
	raw, err := json.Marshal(c.Layout)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeyLayout(raw)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(c.Layout) {
		t.Fatalf("layout round trip\n got %+v\nwant %+v", back, c.Layout)
	}
}

// TestCreateMatchesSpecVector checks master0 against the key the PRISM
// method's deterministic-DID proposal publishes for m/29'/29'/0'/1'/0' of
// its test seed, and that the same seed and template always give the same
// DID.
func TestCreateMatchesSpecVector(t *testing.T) {
	tmpl := Template{PublicKeys: []PublicKeyTemplate{{ID: "auth-1", Purpose: PurposeAuthentication}}}
	c, err := Create(specSeed, 0, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	master, ok := c.Layout.Key(MasterKeyID)
	if !ok {
		t.Fatal("no master0")
	}
	pub, _ := base64.RawURLEncoding.DecodeString(master.PublicKey)
	if got := hex.EncodeToString(pub); got != "023f7c75c9e5fba08fea1640d6faa3f8dc0151261d2b56026d46ddcbe1fc5a5bbb" {
		t.Fatalf("master0 public key %s", got)
	}
	again, err := Create(specSeed, 0, tmpl)
	if err != nil || again.LongForm != c.LongForm {
		t.Fatalf("Create is not deterministic (%v)", err)
	}
	other, err := Create(specSeed, 1, tmpl)
	if err != nil || other.ShortForm == c.ShortForm {
		t.Fatalf("did-index does not change the DID (%v)", err)
	}
	if !strings.HasPrefix(c.LongForm, c.ShortForm+":") {
		t.Fatal("short form is not a prefix of the long form")
	}
}

func TestCreateDocument(t *testing.T) {
	tmpl := Template{
		PublicKeys: []PublicKeyTemplate{
			{ID: "auth-1", Purpose: PurposeAuthentication},
			{ID: "auth-ed", Purpose: PurposeAuthentication, Curve: Ed25519},
			{ID: "issue-ed", Purpose: PurposeAssertionMethod, Curve: Ed25519},
			{ID: "ka-x", Purpose: PurposeKeyAgreement, Curve: X25519},
			{ID: "inv-1", Purpose: PurposeCapabilityInvocation},
			{ID: "del-1", Purpose: PurposeCapabilityDelegation},
		},
		Services: []ServiceTemplate{
			{ID: "ld", Type: ServiceType{Names: []string{"LinkedDomains"}}, ServiceEndpoint: endpoint(`"https://example.com/"`)},
			{ID: "dc", Type: ServiceType{Names: []string{"DIDCommMessaging"}},
				ServiceEndpoint: endpoint(`{ "uri": "https://m.example", "accept": ["didcomm/v2"] }`)},
			{ID: "multi", Type: ServiceType{Names: []string{"A", "B"}, List: true},
				ServiceEndpoint: endpoint(`["https://a.example", {"uri":"https://b.example"}]`)},
		},
		Contexts: []string{"https://example.com/ctx/v1"},
	}
	c, err := Create(specSeed, 2, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ResolveDocument(c.LongForm)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "master0") {
		t.Fatal("master0 must not be in the DID document")
	}
	ref := func(id string) string { return c.LongForm + "#" + id }
	check := func(name string, got, want []string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	check("authentication", doc.Authentication, []string{ref("auth-1"), ref("auth-ed")})
	check("assertionMethod", doc.AssertionMethod, []string{ref("issue-ed")})
	check("keyAgreement", doc.KeyAgreement, []string{ref("ka-x")})
	check("capabilityInvocation", doc.CapabilityInvocation, []string{ref("inv-1")})
	check("capabilityDelegation", doc.CapabilityDelegation, []string{ref("del-1")})
	check("@context", doc.Context, []string{contextDIDCore, contextJWS2020, contextDIDComm,
		contextLinkedDomains, "https://example.com/ctx/v1"})
	if doc.ID != c.LongForm || doc.Controller != c.LongForm {
		t.Fatal("document id and controller must be the DID as given")
	}

	wantJWK := map[string]JWK{}
	for _, e := range c.Layout.Keys {
		raw, _ := base64.RawURLEncoding.DecodeString(e.PublicKey)
		switch e.Curve {
		case Secp256k1:
			wantJWK[e.ID] = secp256k1JWK(t, raw)
		default:
			wantJWK[e.ID] = JWK{Kty: "OKP", Crv: string(e.Curve), X: e.PublicKey}
		}
	}
	if len(doc.VerificationMethod) != 6 {
		t.Fatalf("%d verification methods", len(doc.VerificationMethod))
	}
	for _, vm := range doc.VerificationMethod {
		id := strings.TrimPrefix(vm.ID, c.LongForm+"#")
		if vm.Type != "JsonWebKey2020" || vm.Controller != c.LongForm {
			t.Errorf("%s: type %s controller %s", id, vm.Type, vm.Controller)
		}
		if vm.PublicKeyJwk != wantJWK[id] {
			t.Errorf("%s: JWK %+v, want %+v", id, vm.PublicKeyJwk, wantJWK[id])
		}
		if vm.PublicKeyJwk.Kty == "EC" {
			x, _ := base64.RawURLEncoding.DecodeString(vm.PublicKeyJwk.X)
			y, _ := base64.RawURLEncoding.DecodeString(vm.PublicKeyJwk.Y)
			if len(x) != 32 || len(y) != 32 {
				t.Errorf("%s: x %d bytes, y %d bytes", id, len(x), len(y))
			}
		}
	}

	wantServices := `[{"id":"` + ref("ld") + `","type":"LinkedDomains","serviceEndpoint":"https://example.com/"},` +
		`{"id":"` + ref("dc") + `","type":"DIDCommMessaging","serviceEndpoint":{"uri":"https://m.example","accept":["didcomm/v2"]}},` +
		`{"id":"` + ref("multi") + `","type":["A","B"],"serviceEndpoint":["https://a.example",{"uri":"https://b.example"}]}]`
	gotServices, _ := json.Marshal(doc.Service)
	if string(gotServices) != wantServices {
		t.Fatalf("services\n got %s\nwant %s", gotServices, wantServices)
	}

	// The short form names the same DID but needs the long form to resolve.
	if _, err := ResolveDocument(c.ShortForm); !errors.Is(err, ErrNotLongForm) {
		t.Fatalf("want ErrNotLongForm, got %v", err)
	}
}

// secp256k1JWK computes the expected JWK coordinates with math/big,
// independently of the package's use of the secp256k1 library.
func secp256k1JWK(t *testing.T, compressed []byte) JWK {
	t.Helper()
	x, y := decompress(t, compressed)
	b64 := base64.RawURLEncoding.EncodeToString
	return JWK{Kty: "EC", Crv: "secp256k1", X: b64(x.FillBytes(make([]byte, 32))),
		Y: b64(y.FillBytes(make([]byte, 32)))}
}

func TestParseKeyLayoutRejects(t *testing.T) {
	c, err := Create(specSeed, 0, Template{PublicKeys: []PublicKeyTemplate{{ID: "a", Purpose: PurposeAuthentication}}})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := json.Marshal(c.Layout)
	tests := map[string]string{
		"not-json":          `{`,
		"bad-did":           strings.Replace(string(base), "did:prism:", "did:other:", 1),
		"no-keys":           `{"did":"` + c.ShortForm + `","didIndex":0,"keys":[]}`,
		"negative-index":    strings.Replace(string(base), `"didIndex":0`, `"didIndex":-1`, 1),
		"unknown-purpose":   strings.Replace(string(base), `"purpose":"authentication"`, `"purpose":"x"`, 1),
		"unknown-curve":     strings.Replace(string(base), `"curve":"secp256k1"`, `"curve":"x"`, 1),
		"duplicate-id":      strings.Replace(string(base), `"id":"a"`, `"id":"master0"`, 1),
		"bad-public-key":    strings.Replace(string(base), `"publicKey":"`, `"publicKey":"=`, 1),
		"key-index-too-big": strings.Replace(string(base), `"keyIndex":0`, `"keyIndex":2147483648`, 1),
	}
	for name, in := range tests {
		t.Run("fail/"+name, func(t *testing.T) {
			if in == string(base) {
				t.Fatal("test input unchanged")
			}
			if _, err := ParseKeyLayout([]byte(in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("ok", func(t *testing.T) {
		if _, err := ParseKeyLayout(base); err != nil {
			t.Fatal(err)
		}
	})
}
