package iam

import "errors"

// Reasons an authentication fails. They go to metrics and logs only: the
// client always reads the same message, so that it cannot tell an unknown
// key from a disabled wallet.
const (
	// ReasonMissing: the request carries no credentials.
	ReasonMissing = "missing"
	// ReasonUnknown: the credentials match no key or token.
	ReasonUnknown = "unknown"
	// ReasonDisabled: the key is known but its wallet is disabled.
	ReasonDisabled = "disabled"
)

// failure is an authentication failure with its reason. It matches
// ErrUnauthenticated, and its text names the reason only.
type failure struct{ reason string }

func (f *failure) Error() string { return "unauthenticated: " + f.reason + " credentials" }

func (f *failure) Is(target error) bool { return target == ErrUnauthenticated }

var (
	errMissing  error = &failure{ReasonMissing}
	errUnknown  error = &failure{ReasonUnknown}
	errDisabled error = &failure{ReasonDisabled}
)

// Failure returns the authentication failure for reason (one of the
// Reason constants); it matches ErrUnauthenticated.
func Failure(reason string) error { return &failure{reason} }

// FailureReason returns why err is an authentication failure, or "" when
// it is none. A bare ErrUnauthenticated reads as ReasonUnknown.
func FailureReason(err error) string {
	var f *failure
	switch {
	case errors.As(err, &f):
		return f.reason
	case errors.Is(err, ErrUnauthenticated):
		return ReasonUnknown
	}
	return ""
}
