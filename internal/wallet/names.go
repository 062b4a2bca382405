package wallet

import (
	"fmt"
	"strings"
)

// MaxSecretNameLength is the longest generic secret name, in bytes.
const MaxSecretNameLength = 256

// MaxSecretValueLength is the largest generic secret value, in bytes.
const MaxSecretValueLength = 256 << 10

// reservedLast are the words the HTTP API uses after a secret name
// (".../metadata", ".../undelete", ".../destroy"); a name ending in one of
// them would be ambiguous.
var reservedLast = map[string]bool{"metadata": true, "undelete": true, "destroy": true}

// ValidateSecretName checks a generic secret name: one or more segments
// separated by '/', each made of ASCII letters, digits, '.', '_' and '-',
// none equal to "." or "..", at most MaxSecretNameLength bytes in all, and
// not ending in a reserved word (metadata, undelete, destroy). The
// character set keeps names safe in URLs, Vault paths and logs.
func ValidateSecretName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: the name is empty", ErrInvalidName)
	}
	if len(name) > MaxSecretNameLength {
		return fmt.Errorf("%w: the name is longer than %d bytes", ErrInvalidName, MaxSecretNameLength)
	}
	segments := strings.Split(name, "/")
	for _, seg := range segments {
		switch seg {
		case "":
			return fmt.Errorf("%w: the name has an empty segment", ErrInvalidName)
		case ".", "..":
			return fmt.Errorf("%w: the name has a %q segment", ErrInvalidName, seg)
		}
		for i := 0; i < len(seg); i++ {
			if !nameChar(seg[i]) {
				return fmt.Errorf("%w: only letters, digits, '.', '_', '-' and '/' are allowed",
					ErrInvalidName)
			}
		}
	}
	if reservedLast[segments[len(segments)-1]] {
		return fmt.Errorf("%w: the name must not end in %q", ErrInvalidName, segments[len(segments)-1])
	}
	return nil
}

func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
