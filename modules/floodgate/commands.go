package floodgate

import "github.com/floodgate-proxy/floodgate/modules/floodgate/command"

// The floodgate subcommands — rules check|export, classify, replay, explain, status, and the
// plain-text failed reload — are registered by package command's init: a Caddy built with this
// module (xcaddy, or cmd/floodgate) has them.
func init() {
	command.DefaultAttackRate = DefaultAttackRate
}
