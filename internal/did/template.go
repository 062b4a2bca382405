package did

import (
	"fmt"
	"regexp"
)

// Template is the client's description of a DID to create, with the JSON
// field names of the Identus Cloud Agent's documentTemplate.
type Template struct {
	PublicKeys []PublicKeyTemplate `json:"publicKeys"`
	Services   []ServiceTemplate   `json:"services,omitempty"`
	Contexts   []string            `json:"contexts,omitempty"`
}

// PublicKeyTemplate asks for one key. An empty Curve means secp256k1, the
// Identus default.
type PublicKeyTemplate struct {
	ID      string  `json:"id"`
	Purpose Purpose `json:"purpose"`
	Curve   Curve   `json:"curve,omitempty"`
}

// ServiceTemplate is one service of the DID document.
type ServiceTemplate struct {
	ID              string          `json:"id"`
	Type            ServiceType     `json:"type"`
	ServiceEndpoint ServiceEndpoint `json:"serviceEndpoint"`
}

// curve returns the key's curve with the default applied.
func (k PublicKeyTemplate) curve() Curve {
	if k.Curve == "" {
		return Secp256k1
	}
	return k.Curve
}

// templateID is the syntax of key and service ids in templates: URI
// fragment characters that are also safe as a path segment in the secret
// store (no "/", "?", "%", ":"), starting with a letter or digit.
var templateID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]*$`)

// Validate checks the template against the rules of Create; the error
// wraps ErrInvalidTemplate.
func (t Template) Validate() error {
	if err := t.validate(); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidTemplate, err)
	}
	return nil
}

func (t Template) validate() error {
	if len(t.PublicKeys) == 0 {
		return fmt.Errorf("at least one public key is required")
	}
	if len(t.PublicKeys) > MaxPublicKeys-1 {
		return fmt.Errorf("at most %d public keys (the agent adds %s), got %d", MaxPublicKeys-1,
			MasterKeyID, len(t.PublicKeys))
	}
	ids := map[string]string{} // id -> "public key" or "service"
	for i, k := range t.PublicKeys {
		if err := validateTemplateKey(k, ids); err != nil {
			return fmt.Errorf("public key %d: %w", i+1, err)
		}
	}
	if len(t.Services) > MaxServices {
		return fmt.Errorf("at most %d services, got %d", MaxServices, len(t.Services))
	}
	for i, s := range t.Services {
		if err := validateTemplateService(s, ids); err != nil {
			return fmt.Errorf("service %d: %w", i+1, err)
		}
	}
	return validateContexts(t.Contexts, MaxContexts)
}

func validateTemplateKey(k PublicKeyTemplate, ids map[string]string) error {
	if err := validateTemplateID(k.ID, ids, "public key"); err != nil {
		return err
	}
	if k.ID == MasterKeyID {
		return fmt.Errorf("id %q is reserved for the DID's master key", MasterKeyID)
	}
	switch {
	case k.Purpose == PurposeMaster || k.Purpose == PurposeRevocation:
		return fmt.Errorf("purpose %q is internal to the agent and cannot be requested", k.Purpose)
	case !k.Purpose.IsVerificationRelationship():
		return fmt.Errorf("unknown purpose %q (want authentication, assertionMethod, keyAgreement, "+
			"capabilityInvocation or capabilityDelegation)", k.Purpose)
	}
	allowed, known := allowedCurves[k.curve()]
	if !known {
		return fmt.Errorf("unknown curve %q (want secp256k1, Ed25519 or X25519)", k.Curve)
	}
	if !allowed[k.Purpose] {
		return fmt.Errorf("curve %s cannot be used for %s (Ed25519: authentication or "+
			"assertionMethod; X25519: keyAgreement; secp256k1: any)", k.curve(), k.Purpose)
	}
	return nil
}

func validateTemplateService(s ServiceTemplate, ids map[string]string) error {
	if err := validateTemplateID(s.ID, ids, "service"); err != nil {
		return err
	}
	if err := s.Type.validate(); err != nil {
		return err
	}
	_, err := s.ServiceEndpoint.encode()
	return err
}

// validateTemplateID checks syntax and uniqueness. Keys and services share
// one namespace because both become fragments of the same DID document.
func validateTemplateID(id string, ids map[string]string, kind string) error {
	switch {
	case id == "":
		return fmt.Errorf("id is empty")
	case len(id) > MaxIDLength:
		return fmt.Errorf("id is %d characters, at most %d", len(id), MaxIDLength)
	case !templateID.MatchString(id):
		return fmt.Errorf("id %q may contain only letters, digits, '.', '_', '~' and '-', "+
			"and must start with a letter or digit", id)
	}
	if other, dup := ids[id]; dup {
		return fmt.Errorf("duplicate id %q (already used by a %s)", id, other)
	}
	ids[id] = kind
	return nil
}

// validateContexts checks @context values: absolute URIs, unique, short.
// max < 0 means no count limit.
func validateContexts(contexts []string, max int) error {
	if max >= 0 && len(contexts) > max {
		return fmt.Errorf("at most %d contexts, got %d", max, len(contexts))
	}
	seen := map[string]bool{}
	for i, c := range contexts {
		if len(c) > MaxContextLength {
			return fmt.Errorf("context %d is %d characters, at most %d", i+1, len(c), MaxContextLength)
		}
		if err := validateURI(c); err != nil {
			return fmt.Errorf("context %d %s", i+1, err)
		}
		if seen[c] {
			return fmt.Errorf("context %d is a duplicate", i+1)
		}
		seen[c] = true
	}
	return nil
}
