package did

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/prism-agent/prism-agent/internal/did/prismpb"
	"github.com/prism-agent/prism-agent/internal/hdkey"
)

// Created is the outcome of Create.
type Created struct {
	// LongForm is did:prism:<hash>:<encoded create operation>.
	LongForm string
	// ShortForm is did:prism:<hash>.
	ShortForm string
	// Layout records how every key was derived; store it to sign later.
	Layout KeyLayout
}

// KeyLayout is what it takes, with the wallet seed, to derive a DID's keys
// again. It holds no secret and is stored as JSON next to the DID.
type KeyLayout struct {
	// DID is the short form of the DID the layout belongs to.
	DID string `json:"did"`
	// DIDIndex is the did-index segment of every key's path.
	DIDIndex int `json:"didIndex"`
	// Keys lists the DID's keys in operation order, master0 last.
	Keys []KeyEntry `json:"keys"`
}

// KeyEntry is one key of a KeyLayout. Its path is
// m/29'/29'/<DIDIndex>'/<purpose index>'/<KeyIndex>'.
type KeyEntry struct {
	ID       string  `json:"id"`
	Purpose  Purpose `json:"purpose"`
	Curve    Curve   `json:"curve"`
	KeyIndex int     `json:"keyIndex"`
	// PublicKey is the key as published in the DID (base64url, unpadded):
	// compressed secp256k1 point or raw Ed25519/X25519 key. Signing checks
	// the re-derived key against it.
	PublicKey string `json:"publicKey"`
}

// Key returns the entry with the given id.
func (l KeyLayout) Key(id string) (KeyEntry, bool) {
	for _, k := range l.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return KeyEntry{}, false
}

// Path returns the entry's derivation path within a DID of didIndex.
func (e KeyEntry) Path(didIndex int) (hdkey.Path, error) {
	return hdkey.PrismPath(didIndex, e.Purpose.derivationIndex(), e.KeyIndex)
}

// ParseKeyLayout decodes a stored layout and checks that it is usable.
func ParseKeyLayout(data []byte) (KeyLayout, error) {
	var l KeyLayout
	if err := json.Unmarshal(data, &l); err != nil {
		return KeyLayout{}, fmt.Errorf("decoding key layout: %w", err)
	}
	if err := l.validate(); err != nil {
		return KeyLayout{}, fmt.Errorf("invalid key layout: %w", err)
	}
	return l, nil
}

func (l KeyLayout) validate() error {
	if _, err := Parse(l.DID); err != nil {
		return err
	}
	if len(l.Keys) == 0 {
		return errors.New("no keys")
	}
	seen := map[string]bool{}
	for _, k := range l.Keys {
		if seen[k.ID] {
			return fmt.Errorf("duplicate key id %q", k.ID)
		}
		seen[k.ID] = true
		if _, ok := purposeUsage[k.Purpose]; !ok {
			return fmt.Errorf("key %q has unknown purpose %q", k.ID, k.Purpose)
		}
		if _, ok := allowedCurves[k.Curve]; !ok {
			return fmt.Errorf("key %q has unknown curve %q", k.ID, k.Curve)
		}
		if _, err := k.Path(l.DIDIndex); err != nil {
			return fmt.Errorf("key %q: %w", k.ID, err)
		}
		if _, err := base64.RawURLEncoding.DecodeString(k.PublicKey); err != nil {
			return fmt.Errorf("key %q has a malformed public key", k.ID)
		}
	}
	return nil
}

// counter identifies one sequence of key indices within a DID.
type counter struct {
	curve   Curve
	purpose Purpose
}

// Create derives the keys of tmpl for the DID at didIndex of the wallet
// whose seed is given, and encodes the long-form DID.
//
// Key indices follow the Identus Cloud Agent (OperationFactory and
// HdKeyIndexCounter in its wallet-api): every purpose has its own counter,
// starting at 0 for each DID and advancing in template order, and master0
// is derived last with the master counter (index 0). The agent derives only
// secp256k1 keys that way and generates Ed25519 and X25519 keys at random,
// without advancing any counter. Here those curves are derived too
// (SLIP-0010) and count per (curve, purpose), so a secp256k1 key gets the
// same index, and so the same key, as in the Identus agent for the same
// seed and template, whatever other curves the template mixes in.
//
// Keys are encoded in template order with master0 last. (For templates with
// only secp256k1 keys this is also the Identus order; the agent lists its
// random Ed25519/X25519 keys after the secp256k1 ones.)
func Create(seed []byte, didIndex int, tmpl Template) (Created, error) {
	if err := tmpl.Validate(); err != nil {
		return Created{}, err
	}

	counters := map[counter]int{}
	keys := make([]*prismpb.PublicKey, 0, len(tmpl.PublicKeys)+1)
	entries := make([]KeyEntry, 0, len(tmpl.PublicKeys)+1)
	add := func(id string, purpose Purpose, curve Curve) error {
		c := counter{curve, purpose}
		entry := KeyEntry{ID: id, Purpose: purpose, Curve: curve, KeyIndex: counters[c]}
		counters[c]++
		pub, err := derivePublicKey(seed, didIndex, entry)
		if err != nil {
			return err
		}
		entry.PublicKey = base64.RawURLEncoding.EncodeToString(pub)
		entries = append(entries, entry)
		keys = append(keys, &prismpb.PublicKey{
			Id:    id,
			Usage: purposeUsage[purpose],
			KeyData: &prismpb.PublicKey_CompressedEcKeyData{
				CompressedEcKeyData: &prismpb.CompressedECKeyData{Curve: string(curve), Data: pub},
			},
		})
		return nil
	}
	for _, k := range tmpl.PublicKeys {
		if err := add(k.ID, k.Purpose, k.curve()); err != nil {
			return Created{}, err
		}
	}
	if err := add(MasterKeyID, PurposeMaster, Secp256k1); err != nil {
		return Created{}, err
	}

	services := make([]*prismpb.Service, 0, len(tmpl.Services))
	for _, s := range tmpl.Services {
		endpoint, _ := s.ServiceEndpoint.encode() // validated above
		services = append(services, &prismpb.Service{
			Id: s.ID, Type: s.Type.encode(), ServiceEndpoint: endpoint,
		})
	}
	op := &prismpb.AtalaOperation{Operation: &prismpb.AtalaOperation_CreateDid{
		CreateDid: &prismpb.CreateDIDOperation{DidData: &prismpb.CreateDIDOperation_DIDCreationData{
			PublicKeys: keys,
			Services:   services,
			Context:    tmpl.Contexts,
		}},
	}}
	raw, err := marshal.Marshal(op)
	if err != nil {
		return Created{}, fmt.Errorf("encoding create operation: %w", err)
	}
	d := newLongForm(raw, op)

	// A DID this package creates must be one it (and so any strict reader)
	// accepts; a failure here is a bug, not a client error.
	if _, err := ParseLongForm(d.String()); err != nil {
		return Created{}, fmt.Errorf("created DID fails validation: %w", err)
	}
	return Created{
		LongForm:  d.String(),
		ShortForm: d.ShortForm(),
		Layout:    KeyLayout{DID: d.ShortForm(), DIDIndex: didIndex, Keys: entries},
	}, nil
}

// derivePublicKey derives the key of entry and returns its public part.
func derivePublicKey(seed []byte, didIndex int, entry KeyEntry) ([]byte, error) {
	path, err := entry.Path(didIndex)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", entry.ID, err)
	}
	k, err := hdkey.Derive(entry.Curve, seed, path)
	if err != nil {
		return nil, fmt.Errorf("deriving key %q: %w", entry.ID, err)
	}
	defer k.Zero()
	return k.PublicKey(), nil
}
