package did

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// ServiceType is a service's type: one name, or a list of names. In JSON
// and in the PRISM operation a single name is a plain string and a list is
// an array (even of one name), as in the Identus Cloud Agent, so the two
// spellings of one name stay distinct and re-encode as they came.
type ServiceType struct {
	Names []string
	// List is true when the type is written as an array.
	List bool
}

// MarshalJSON writes a single name as a string, a list as an array.
func (t ServiceType) MarshalJSON() ([]byte, error) {
	if !t.List && len(t.Names) == 1 {
		return json.Marshal(t.Names[0])
	}
	return json.Marshal(t.Names)
}

// UnmarshalJSON accepts a string or an array of strings.
func (t *ServiceType) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = ServiceType{Names: []string{one}}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("service type must be a string or an array of strings")
	}
	*t = ServiceType{Names: many, List: true}
	return nil
}

// encode is the type as the operation's string: a bare name, or a compact
// JSON array of names.
func (t ServiceType) encode() string {
	if !t.List && len(t.Names) == 1 {
		return t.Names[0]
	}
	b, _ := json.Marshal(t.Names)
	return string(b)
}

// validate checks the names; the error is a bare description.
func (t ServiceType) validate() error {
	switch {
	case len(t.Names) == 0:
		return errors.New("type is empty")
	case !t.List && len(t.Names) > 1:
		return errors.New("several type names must be a list")
	}
	for _, name := range t.Names {
		if err := validateTypeName(name); err != nil {
			return err
		}
	}
	if n := len(t.encode()); n > MaxServiceTypeLength {
		return fmt.Errorf("type is %d characters encoded, at most %d", n, MaxServiceTypeLength)
	}
	return nil
}

func validateTypeName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("type name is empty")
	}
	if strings.TrimSpace(name) != name {
		return errors.New("type name starts or ends with white space")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errors.New("type name contains a control character")
		}
	}
	return nil
}

// decodeServiceType reads the operation's type string: a JSON array when
// it parses as one (it must hold strings and be written compactly, so that
// the encoding is unique), otherwise a single name.
func decodeServiceType(s string) (ServiceType, error) {
	var items []any
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &items) == nil {
		t := ServiceType{List: true}
		for _, item := range items {
			name, ok := item.(string)
			if !ok {
				return ServiceType{}, errors.New("type array holds a non-string")
			}
			t.Names = append(t.Names, name)
		}
		if len(t.Names) == 0 {
			return ServiceType{}, errors.New("type is an empty array")
		}
		if t.encode() != s {
			return ServiceType{}, errors.New("type array is not compactly encoded")
		}
		return t, t.validate()
	}
	t := ServiceType{Names: []string{s}}
	return t, t.validate()
}

// ServiceEndpoint is a service's endpoint as JSON: a URI string, a JSON
// object, or a non-empty array of URIs and objects.
type ServiceEndpoint json.RawMessage

// MarshalJSON writes the endpoint JSON as it is.
func (e ServiceEndpoint) MarshalJSON() ([]byte, error) {
	if len(e) == 0 {
		return []byte("null"), nil
	}
	return e, nil
}

// UnmarshalJSON keeps the endpoint JSON; validation happens with the
// template.
func (e *ServiceEndpoint) UnmarshalJSON(b []byte) error {
	*e = append((*e)[:0], b...)
	return nil
}

// encode validates the endpoint and returns the operation's string: a URI
// as it is, an object or array as compact JSON (keys kept in their order).
// The error is a bare description.
func (e ServiceEndpoint) encode() (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(e))
	dec.UseNumber()
	if len(e) == 0 || dec.Decode(&v) != nil || dec.More() {
		return "", errors.New("endpoint is not valid JSON")
	}
	var s string
	switch v := v.(type) {
	case string:
		if err := validateURI(v); err != nil {
			return "", fmt.Errorf("endpoint %s", err)
		}
		s = v
	case map[string]any:
		s = compact(e)
	case []any:
		if len(v) == 0 {
			return "", errors.New("endpoint is an empty array")
		}
		for i, item := range v {
			switch item := item.(type) {
			case string:
				if err := validateURI(item); err != nil {
					return "", fmt.Errorf("endpoint item %d %s", i+1, err)
				}
			case map[string]any:
			default:
				return "", fmt.Errorf("endpoint item %d is neither a URI nor an object", i+1)
			}
		}
		s = compact(e)
	default:
		return "", errors.New("endpoint must be a URI, an object or an array")
	}
	if len(s) > MaxServiceEndpointLength {
		return "", fmt.Errorf("endpoint is %d characters encoded, at most %d", len(s),
			MaxServiceEndpointLength)
	}
	return s, nil
}

func compact(b []byte) string {
	var buf bytes.Buffer
	_ = json.Compact(&buf, b) // b was decoded successfully just before
	return buf.String()
}

// decodeServiceEndpoint reads the operation's endpoint string into its JSON
// form: an object or array when it parses as one, otherwise a URI.
func decodeServiceEndpoint(s string) (ServiceEndpoint, error) {
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		if json.Valid([]byte(s)) {
			e := ServiceEndpoint(s)
			enc, err := e.encode()
			if err != nil {
				return nil, err
			}
			if enc != s {
				return nil, errors.New("endpoint JSON is not compactly encoded")
			}
			return e, nil
		}
	}
	if err := validateURI(s); err != nil {
		return nil, fmt.Errorf("endpoint %s", err)
	}
	if len(s) > MaxServiceEndpointLength {
		return nil, fmt.Errorf("endpoint is %d characters, at most %d", len(s), MaxServiceEndpointLength)
	}
	b, _ := json.Marshal(s)
	return ServiceEndpoint(b), nil
}

// validateURI checks that s is an absolute URI without white space or
// control characters; the error is a bare description.
func validateURI(s string) error {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || unicode.IsSpace(r) {
			return errors.New("is not a URI: contains white space or a control character")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URI")
	}
	if u.Scheme == "" {
		return errors.New("is not an absolute URI")
	}
	if u.Opaque == "" && u.Host == "" && u.Path == "" {
		return errors.New("is not a URI: nothing after the scheme")
	}
	return nil
}
