package did

import (
	"encoding/base64"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// JSON-LD contexts of a DID document, chosen as the Identus Cloud Agent
// does (castor's W3CModelHelper, after the PRISM method's "constructing a
// JSON-LD DID document"): the DID core context always, then one per key or
// service type used, then the DID's own contexts.
const (
	contextDIDCore         = "https://www.w3.org/ns/did/v1"
	contextJWS2020         = "https://w3id.org/security/suites/jws-2020/v1"
	contextDIDComm         = "https://didcomm.org/messaging/contexts/v2"
	contextLinkedDomains   = "https://identity.foundation/.well-known/did-configuration/v1"
	verificationMethodType = "JsonWebKey2020"
)

// Document is a W3C DID document, shaped like the didDocument of the
// Identus agent's GET /dids/{didRef}. Relationship arrays reference
// verification methods by id; master and revocation keys are not part of
// the document (PRISM method: they serve the method, not the subject).
type Document struct {
	Context              []string             `json:"@context"`
	ID                   string               `json:"id"`
	Controller           string               `json:"controller"`
	VerificationMethod   []VerificationMethod `json:"verificationMethod"`
	Authentication       []string             `json:"authentication"`
	AssertionMethod      []string             `json:"assertionMethod"`
	KeyAgreement         []string             `json:"keyAgreement"`
	CapabilityInvocation []string             `json:"capabilityInvocation"`
	CapabilityDelegation []string             `json:"capabilityDelegation"`
	Service              []Service            `json:"service"`
}

// VerificationMethod is one public key of a Document.
type VerificationMethod struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Controller   string `json:"controller"`
	PublicKeyJwk JWK    `json:"publicKeyJwk"`
}

// JWK is a public key as a JSON Web Key: kty EC with crv secp256k1 and x, y
// (32 bytes each), or kty OKP with crv Ed25519 or X25519 and x.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
}

// Service is one service of a Document.
type Service struct {
	ID              string          `json:"id"`
	Type            ServiceType     `json:"type"`
	ServiceEndpoint ServiceEndpoint `json:"serviceEndpoint"`
}

// ResolveDocument returns the DID document of a long-form DID string. A
// short form yields ErrNotLongForm.
func ResolveDocument(s string) (*Document, error) {
	d, err := Parse(s)
	if err != nil {
		return nil, err
	}
	return d.Document()
}

// Document renders d's DID document. Ids and controllers use d as given,
// so a long form is described under its long form, as in the Identus agent.
func (d DID) Document() (*Document, error) {
	if !d.IsLongForm() {
		return nil, fmt.Errorf("%w: %s", ErrNotLongForm, d.ShortForm())
	}
	data := d.op.GetCreateDid().GetDidData()
	keys, err := decodeKeys(data.GetPublicKeys())
	if err != nil { // validated when d was parsed or created
		return nil, fmt.Errorf("%w: %s", ErrInvalidDID, err)
	}

	id := d.String()
	doc := &Document{
		ID:                   id,
		Controller:           id,
		VerificationMethod:   []VerificationMethod{},
		Authentication:       []string{},
		AssertionMethod:      []string{},
		KeyAgreement:         []string{},
		CapabilityInvocation: []string{},
		CapabilityDelegation: []string{},
		Service:              []Service{},
	}
	relationships := map[Purpose]*[]string{
		PurposeAuthentication:       &doc.Authentication,
		PurposeAssertionMethod:      &doc.AssertionMethod,
		PurposeKeyAgreement:         &doc.KeyAgreement,
		PurposeCapabilityInvocation: &doc.CapabilityInvocation,
		PurposeCapabilityDelegation: &doc.CapabilityDelegation,
	}
	for _, k := range keys {
		rel, listed := relationships[k.purpose]
		if !listed {
			continue // master and revocation keys
		}
		jwk, err := k.jwk()
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %s", ErrInvalidDID, k.id, err)
		}
		ref := id + "#" + k.id
		doc.VerificationMethod = append(doc.VerificationMethod, VerificationMethod{
			ID: ref, Type: verificationMethodType, Controller: id, PublicKeyJwk: jwk,
		})
		*rel = append(*rel, ref)
	}

	types := map[string]bool{}
	for _, s := range data.GetServices() {
		t, err := decodeServiceType(s.GetType())
		if err != nil {
			return nil, fmt.Errorf("%w: service %q: %s", ErrInvalidDID, s.GetId(), err)
		}
		endpoint, err := decodeServiceEndpoint(s.GetServiceEndpoint())
		if err != nil {
			return nil, fmt.Errorf("%w: service %q: %s", ErrInvalidDID, s.GetId(), err)
		}
		for _, name := range t.Names {
			types[name] = true
		}
		doc.Service = append(doc.Service, Service{ID: id + "#" + s.GetId(), Type: t,
			ServiceEndpoint: endpoint})
	}

	doc.Context = []string{contextDIDCore}
	if len(doc.VerificationMethod) > 0 {
		doc.Context = append(doc.Context, contextJWS2020)
	}
	if types["DIDCommMessaging"] {
		doc.Context = append(doc.Context, contextDIDComm)
	}
	if types["LinkedDomains"] {
		doc.Context = append(doc.Context, contextLinkedDomains)
	}
	doc.Context = append(doc.Context, data.GetContext()...)
	return doc, nil
}

// jwk converts a decoded key to its JWK.
func (k publicKey) jwk() (JWK, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch k.curve {
	case Secp256k1:
		pub, err := secp256k1.ParsePubKey(k.raw)
		if err != nil {
			return JWK{}, err
		}
		// The uncompressed form holds x and y as fixed 32-byte fields, so
		// leading zero bytes are kept as JWK (RFC 7518 6.2.1.2) requires.
		u := pub.SerializeUncompressed()
		return JWK{Kty: "EC", Crv: string(Secp256k1), X: b64(u[1:33]), Y: b64(u[33:65])}, nil
	default:
		return JWK{Kty: "OKP", Crv: string(k.curve), X: b64(k.raw)}, nil
	}
}
