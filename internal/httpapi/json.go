package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeJSON reads exactly one JSON object into v: unknown fields, trailing
// data and a wrong content type are client errors.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: Content-Type must be application/json", errBadRequest)
	}
	// The body is read whole (it is bounded by the body limit) so that
	// invalid UTF-8 is refused: encoding/json would silently replace it,
	// storing something other than what the client sent.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return fmt.Errorf("%w: the body could not be read whole (shorter than its Content-Length?)",
			errBadRequest)
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", errBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the request body is empty", errBadRequest)
		}
		return fmt.Errorf("%w: the body is not valid JSON for this request: %s", errBadRequest, jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the body has data after the JSON object", errBadRequest)
	}
	return nil
}

// jsonProblem describes a decoding error without echoing input values.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return "syntax error at byte " + strconv.FormatInt(syntax.Offset, 10)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return "the body must be a JSON object"
		}
		return "field " + strconv.Quote(typeErr.Field) + " must be " + jsonKind(typeErr.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	default:
		return "malformed JSON"
	}
}

// jsonKind names a Go type as the JSON kind a client must send.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// page is a list response in the Identus Cloud Agent's shape.
type page struct {
	Self     string `json:"self"`
	Kind     string `json:"kind"`
	PageOf   string `json:"pageOf"`
	Next     string `json:"next,omitempty"`
	Previous string `json:"previous,omitempty"`
	Contents any    `json:"contents"`
}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// pageParams reads offset and limit from the query.
func pageParams(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	offset, limit = 0, defaultLimit
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("%w: offset must be a non-negative integer", errBadRequest)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, fmt.Errorf("%w: limit must be an integer from 1 to %d", errBadRequest, maxLimit)
		}
	}
	return offset, limit, nil
}

// newPage builds the links of one page of a list of total items.
func (s *Server) newPage(r *http.Request, kind string, offset, limit, total int, contents any) page {
	link := func(off int) string {
		return s.prefix + r.URL.Path + "?offset=" + strconv.Itoa(off) + "&limit=" + strconv.Itoa(limit)
	}
	p := page{Self: link(offset), Kind: kind, PageOf: s.prefix + r.URL.Path, Contents: contents}
	if offset+limit < total {
		p.Next = link(offset + limit)
	}
	if offset > 0 {
		p.Previous = link(max(0, offset-limit))
	}
	return p
}
