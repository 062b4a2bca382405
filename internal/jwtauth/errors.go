package jwtauth

import "errors"

// ErrInvalidToken is matched (errors.Is) by every error of Verify that
// refuses the token itself. The client must read the same answer whatever
// the Reason; the Reason is for logs and metrics.
var ErrInvalidToken = errors.New("invalid bearer token")

// ErrUnavailable is matched by errors of Verify when no key set of the
// issuer could be fetched at all, so the token could not be judged. It is
// a 503 for the client, not a 401.
var ErrUnavailable = errors.New("token issuer keys unavailable")

// Reason says why a token was refused. The set is fixed so that it can
// label metrics; it never carries data from the token.
type Reason string

// Reasons a token is refused.
const (
	// ReasonMalformed: not a compact JWS, bad base64 or JSON, a claim of the
	// wrong type, or no "exp".
	ReasonMalformed Reason = "malformed"
	// ReasonAlgorithm: "alg" outside the allow-list (always for "none" and
	// HS*), or not matching the type, curve or "alg" of the key named by kid.
	ReasonAlgorithm Reason = "algorithm"
	// ReasonSignature: the signature does not verify with the selected key.
	ReasonSignature Reason = "signature"
	// ReasonUnknownKey: no key of the issuer's JWKS matches the header, even
	// after the refetch the rate limit allows.
	ReasonUnknownKey Reason = "unknown-key"
	// ReasonIssuer: "iss" is not the configured issuer.
	ReasonIssuer Reason = "issuer"
	// ReasonAudience: no "aud" value is an accepted audience.
	ReasonAudience Reason = "audience"
	// ReasonExpired: "exp" is past, beyond the leeway.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: "nbf" is ahead, beyond the leeway.
	ReasonNotYetValid Reason = "not-yet-valid"
	// ReasonIssuedInFuture: "iat" is ahead, beyond the leeway.
	ReasonIssuedInFuture Reason = "issued-in-future"
	// ReasonMissingWalletClaim: the wallet claim is absent, not a string, or
	// empty.
	ReasonMissingWalletClaim Reason = "missing-wallet-claim"
	// ReasonTooLarge: the token is longer than MaxTokenSize.
	ReasonTooLarge Reason = "too-large"
)

// Reasons returns every Reason, for example to initialise metric labels.
func Reasons() []Reason {
	return []Reason{
		ReasonMalformed, ReasonAlgorithm, ReasonSignature, ReasonUnknownKey,
		ReasonIssuer, ReasonAudience, ReasonExpired, ReasonNotYetValid,
		ReasonIssuedInFuture, ReasonMissingWalletClaim, ReasonTooLarge,
	}
}

// VerifyError is a refused token: errors.As finds it in any error of
// Verify that matches ErrInvalidToken. Its text names the reason only, never
// a part of the token.
type VerifyError struct {
	// Reason is why the token was refused.
	Reason Reason
	// cause is the library error behind the reason, if any; it stays out of
	// Error because some parser errors quote input bytes.
	cause error
}

// Error returns "invalid bearer token: <reason>".
func (e *VerifyError) Error() string { return ErrInvalidToken.Error() + ": " + string(e.Reason) }

// Is makes a VerifyError match ErrInvalidToken.
func (e *VerifyError) Is(target error) bool { return target == ErrInvalidToken }

// Unwrap returns the underlying library error, if any, for debugging.
func (e *VerifyError) Unwrap() error { return e.cause }

// ReasonOf returns the Reason of a refused token, or "" when err is not one.
func ReasonOf(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ""
}

func invalid(r Reason, cause error) error { return &VerifyError{Reason: r, cause: cause} }
