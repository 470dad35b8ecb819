// Package pass issues and verifies passes: compact, cookie-safe tokens
// (base64url, 88 characters) signed with HMAC-SHA256 that say a client passed
// a challenge at some level. A pass is bound to the client's network prefix
// and User-Agent (only truncated hashes of them are stored) and expires.
// Any floodgate instance holding the key verifies a pass without a lookup;
// several keys allow rotation (the first signs, all verify). Verify is
// allocation-free because it runs on every request of a challenged site.
package pass
