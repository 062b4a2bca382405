// Command vault builds the HashiCorp Vault server used by the agent's tests.
//
// It lives in its own module so that Vault's large dependency graph never
// enters the agent's go.mod.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
