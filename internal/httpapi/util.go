package httpapi

import (
	"fmt"

	"github.com/prism-agent/prism-agent/internal/iam"
)

var errUnauthenticated = iam.ErrUnauthenticated

func fmtType(v any) string { return fmt.Sprintf("%T", v) }
