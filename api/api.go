// Package api holds the OpenAPI 3.1 description of the agent's REST API,
// kept next to the code and embedded into the binary, which serves it at
// GET /docs/openapi.yaml.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document (YAML) of the whole REST API. A test
// in internal/httpapi checks it against the routes the server registers.
//
//go:embed openapi.yaml
var OpenAPI []byte
