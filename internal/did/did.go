// Package did implements the did:prism method for the agent's managed DIDs:
// validating a DID template, deriving its keys from the wallet seed and
// encoding the long-form DID; parsing long- and short-form PRISM DIDs;
// rendering the W3C DID document of a long-form DID; and signing a payload
// as a compact JWS with one of a DID's keys.
//
// The package is pure: it stores nothing and knows nothing about HTTP. What
// a caller must keep to use a DID again is its KeyLayout (non-secret) and
// the wallet seed (secret, kept elsewhere).
package did

import (
	"errors"

	"github.com/prism-agent/prism-agent/internal/did/prismpb"
	"github.com/prism-agent/prism-agent/internal/hdkey"
)

// Domain outcomes, checked with errors.Is. Wrapping messages give the
// detail a client needs; they never contain seed or key material.
var (
	// ErrInvalidTemplate: a DID template breaks a rule (the message says
	// which key, service or context and why).
	ErrInvalidTemplate = errors.New("invalid DID template")
	// ErrInvalidDID: a string is not a valid PRISM DID, or a long-form DID's
	// state is tampered with, malformed or not a valid create operation.
	ErrInvalidDID = errors.New("invalid PRISM DID")
	// ErrNotLongForm: a short-form DID was given where its document is
	// needed; only the ledger or the wallet's records can resolve it.
	ErrNotLongForm = errors.New("short-form DID cannot be resolved locally")
	// ErrKeyNotFound: the DID has no key with the requested id.
	ErrKeyNotFound = errors.New("key not found in DID")
	// ErrKeyCannotSign: the key exists but may not sign a JWS (an X25519 or
	// key-agreement key, or an internal master or revocation key).
	ErrKeyCannotSign = errors.New("key cannot sign")
	// ErrKeyMismatch: the key derived from the seed is not the key recorded
	// for the DID, so the seed is not the one that created the DID.
	ErrKeyMismatch = errors.New("derived key does not match the DID's key")
)

// Curve is a key's curve; the names are those of PRISM operations and
// Identus DID templates.
type Curve = hdkey.Curve

// Supported curves.
const (
	Secp256k1 = hdkey.Secp256k1
	Ed25519   = hdkey.Ed25519
	X25519    = hdkey.X25519
)

// Purpose is what a key is for: a W3C verification relationship, or one of
// the internal purposes of the PRISM method.
type Purpose string

// Key purposes. Templates may use the five verification relationships;
// master and revocation keys are the method's own and never appear in a
// DID document.
const (
	PurposeAuthentication       Purpose = "authentication"
	PurposeAssertionMethod      Purpose = "assertionMethod"
	PurposeKeyAgreement         Purpose = "keyAgreement"
	PurposeCapabilityInvocation Purpose = "capabilityInvocation"
	PurposeCapabilityDelegation Purpose = "capabilityDelegation"
	PurposeMaster               Purpose = "master"
	PurposeRevocation           Purpose = "revocation"
)

// purposeUsage maps purposes to the PRISM KeyUsage. The same numbers are
// the key-purpose segment of the derivation path (master 1, assertion 2,
// key agreement 3, authentication 4, revocation 5, capability invocation 6,
// capability delegation 7), as in the Identus ManagedDIDHdKeyPath.
var purposeUsage = map[Purpose]prismpb.KeyUsage{
	PurposeMaster:               prismpb.KeyUsage_MASTER_KEY,
	PurposeAssertionMethod:      prismpb.KeyUsage_ISSUING_KEY,
	PurposeKeyAgreement:         prismpb.KeyUsage_KEY_AGREEMENT_KEY,
	PurposeAuthentication:       prismpb.KeyUsage_AUTHENTICATION_KEY,
	PurposeRevocation:           prismpb.KeyUsage_REVOCATION_KEY,
	PurposeCapabilityInvocation: prismpb.KeyUsage_CAPABILITY_INVOCATION_KEY,
	PurposeCapabilityDelegation: prismpb.KeyUsage_CAPABILITY_DELEGATION_KEY,
}

// usagePurpose is the inverse of purposeUsage.
var usagePurpose = func() map[prismpb.KeyUsage]Purpose {
	m := make(map[prismpb.KeyUsage]Purpose, len(purposeUsage))
	for p, u := range purposeUsage {
		m[u] = p
	}
	return m
}()

// derivationIndex is the key-purpose segment of p's derivation path.
func (p Purpose) derivationIndex() int { return int(purposeUsage[p]) }

// IsVerificationRelationship reports whether p is one of the W3C
// relationships a DID document lists (and a template may use).
func (p Purpose) IsVerificationRelationship() bool {
	switch p {
	case PurposeAuthentication, PurposeAssertionMethod, PurposeKeyAgreement,
		PurposeCapabilityInvocation, PurposeCapabilityDelegation:
		return true
	}
	return false
}

// MasterKeyID is the id of the master key the agent adds to every DID; a
// template may not use it.
const MasterKeyID = "master0"

// Limits of a create operation. They are the Identus Cloud Agent's
// (DIDOperationValidator defaults), so that a DID made here is accepted
// there and the reverse.
const (
	MaxPublicKeys            = 50 // per DID, master0 included
	MaxServices              = 50
	MaxIDLength              = 50
	MaxServiceTypeLength     = 100 // of the encoded type
	MaxServiceEndpointLength = 300 // of the encoded endpoint
	MaxContextLength         = 100
	MaxContexts              = 50 // templates only; the Identus agent sets none
)

// allowedCurves is which curves a template key of each purpose may use:
// secp256k1 signs and agrees keys; Ed25519 only signs; X25519 only agrees.
var allowedCurves = map[Curve]map[Purpose]bool{
	Secp256k1: {
		PurposeAuthentication: true, PurposeAssertionMethod: true, PurposeKeyAgreement: true,
		PurposeCapabilityInvocation: true, PurposeCapabilityDelegation: true,
	},
	Ed25519: {PurposeAuthentication: true, PurposeAssertionMethod: true},
	X25519:  {PurposeKeyAgreement: true},
}
