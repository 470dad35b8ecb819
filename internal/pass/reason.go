package pass

import "errors"

// Reason says why a pass (or a challenge answer) was refused. It is an error,
// and its string is short and bounded so it can be a metrics label.
// Compare with == or errors.Is; ReasonOf extracts it from any error.
type Reason string

// Refusal reasons for passes. Package challenge adds reasons of its own.
const (
	// ReasonMissing: the request carried no pass.
	ReasonMissing Reason = "missing"
	// ReasonMalformed: the token is not a token this code writes (length,
	// alphabet, version, fields out of range).
	ReasonMalformed Reason = "malformed"
	// ReasonBadSignature: the token's HMAC matches none of the keys: it was
	// altered, forged, or signed with a key no longer configured.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonExpired: the token is past its expiry.
	ReasonExpired Reason = "expired"
	// ReasonOtherNetwork: the token was issued to another network prefix.
	ReasonOtherNetwork Reason = "other_network"
	// ReasonOtherUserAgent: the token was issued to another User-Agent.
	ReasonOtherUserAgent Reason = "other_user_agent"
	// ReasonWeakerLevel: the pass is valid but was earned at a weaker level
	// than the one demanded.
	ReasonWeakerLevel Reason = "weaker_level"
)

// Error describes the refusal in words.
func (r Reason) Error() string {
	switch r {
	case ReasonMissing:
		return "pass refused: missing (no pass cookie in the request)"
	case ReasonMalformed:
		return "pass refused: malformed (expected a base64url token written by floodgate)"
	case ReasonBadSignature:
		return "pass refused: bad_signature (the signature matches no configured key)"
	case ReasonExpired:
		return "pass refused: expired"
	case ReasonOtherNetwork:
		return "pass refused: other_network (issued to another network prefix)"
	case ReasonOtherUserAgent:
		return "pass refused: other_user_agent (issued to another User-Agent)"
	case ReasonWeakerLevel:
		return "pass refused: weaker_level (earned at a weaker challenge level than demanded)"
	}
	return "refused: " + string(r)
}

// ReasonOf returns the Reason inside err, "" when err is nil, and
// "error" when err carries no Reason.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var r Reason
	if errors.As(err, &r) {
		return r
	}
	return "error"
}
