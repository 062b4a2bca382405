// Package deploy holds the files that deploy PRISM Agent: the APISIX gateway
// configuration (apisix/), a Docker Compose stack with its scripts
// (compose/) and the Vault policies (vault/); the Dockerfile is at the
// repository root. The package has no code of its own. Its tests check those
// files against the API description (api/openapi.yaml) and against each
// other, and run what can run without a container engine: the compose
// stack's scripts against a real Vault and PostgreSQL, and the agent behind
// a gateway that follows apisix.yaml.
package deploy
