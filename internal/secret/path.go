package secret

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length limits of a Path, in bytes. They keep a full path well inside what
// Vault, URLs and an SQLite index handle comfortably.
const (
	// MaxDirLen is the longest Path.Dir accepted.
	MaxDirLen = 256
	// MaxNameLen is the longest Path.Name accepted.
	MaxNameLen = 512
)

// Validate reports whether p is a well-formed path that cannot address
// anything outside p.Dir. Dir and Name are each one or more segments joined
// by '/': no segment is empty (so no leading, trailing or doubled '/'), none
// is "." or "..", and neither part contains invalid UTF-8 or a control
// character (NUL included). The returned error wraps ErrInvalidPath and
// names the rule broken, never the path itself.
func (p Path) Validate() error {
	if err := validatePart("dir", p.Dir, MaxDirLen); err != nil {
		return err
	}
	return validatePart("name", p.Name, MaxNameLen)
}

// ValidateDir checks a directory as Store.List receives it, with the rules
// Validate applies to Path.Dir.
func ValidateDir(dir string) error {
	return validatePart("dir", dir, MaxDirLen)
}

func validatePart(part, s string, maxLen int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalidPath, part)
	case len(s) > maxLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidPath, part, maxLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidPath, part)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s contains a control character", ErrInvalidPath, part)
	}
	for seg := range strings.SplitSeq(s, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %s has an empty segment", ErrInvalidPath, part)
		case ".", "..":
			return fmt.Errorf("%w: %s has a dot segment", ErrInvalidPath, part)
		}
	}
	return nil
}
