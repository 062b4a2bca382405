package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/prism-agent/prism-agent/internal/did"
	"github.com/prism-agent/prism-agent/internal/store"
)

type createDIDRequest struct {
	DocumentTemplate *did.Template `json:"documentTemplate"`
}

type managedDIDResponse struct {
	DID         string    `json:"did"`
	LongFormDID string    `json:"longFormDid"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"createdAt"`
}

func toManagedDID(d store.DID) managedDIDResponse {
	return managedDIDResponse{DID: d.ShortForm, LongFormDID: d.LongForm, Status: d.Status,
		CreatedAt: d.CreatedAt.UTC()}
}

type signRequest struct {
	KeyID   string  `json:"keyId"`
	Payload *string `json:"payload"`
}

type signResponse struct {
	JWS string `json:"jws"`
}

func (s *Server) createDID(w http.ResponseWriter, r *http.Request) {
	var req createDIDRequest
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	if req.DocumentTemplate == nil {
		s.renderError(w, r, fmt.Errorf("%w: the field \"documentTemplate\" is required", errBadRequest))
		return
	}
	wal, err := s.callerWallet(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	rec, err := wal.CreateDID(r.Context(), *req.DocumentTemplate)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"longFormDid": rec.LongForm})
}

func (s *Server) listDIDs(w http.ResponseWriter, r *http.Request) {
	offset, limit, err := pageParams(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	wal, err := s.callerWallet(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	recs, total, err := wal.DIDs(r.Context(), store.Page{Offset: offset, Limit: limit})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	contents := make([]managedDIDResponse, 0, len(recs))
	for _, d := range recs {
		contents = append(contents, toManagedDID(d))
	}
	writeJSON(w, http.StatusOK, s.newPage(r, "ManagedDIDPage", offset, limit, total, contents))
}

func (s *Server) getDID(w http.ResponseWriter, r *http.Request) {
	wal, err := s.callerWallet(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	rec, err := wal.DID(r.Context(), chi.URLParam(r, "didRef"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toManagedDID(rec))
}

func (s *Server) signWithDID(w http.ResponseWriter, r *http.Request) {
	var req signRequest
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	if req.KeyID == "" {
		s.renderError(w, r, fmt.Errorf("%w: the field \"keyId\" is required", errBadRequest))
		return
	}
	if req.Payload == nil {
		s.renderError(w, r, fmt.Errorf("%w: the field \"payload\" is required", errBadRequest))
		return
	}
	payload, err := decodeBase64URL(*req.Payload)
	if err != nil {
		s.renderError(w, r, fmt.Errorf("%w: payload must be base64url", errBadRequest))
		return
	}
	wal, err := s.callerWallet(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	jws, err := wal.Sign(r.Context(), chi.URLParam(r, "didRef"), req.KeyID, payload)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signResponse{JWS: jws})
}

// decodeBase64URL accepts base64url with or without its padding.
func decodeBase64URL(s string) ([]byte, error) {
	if pad := len(s) - len(strings.TrimRight(s, "=")); pad > 0 {
		return base64.URLEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

type resolutionResponse struct {
	Context               string            `json:"@context"`
	DIDDocument           *did.Document     `json:"didDocument"`
	DIDDocumentMetadata   map[string]any    `json:"didDocumentMetadata"`
	DIDResolutionMetadata map[string]string `json:"didResolutionMetadata"`
}

// resolveDID decodes a long-form DID locally; it needs no authentication
// because a long-form DID carries its whole document.
func (s *Server) resolveDID(w http.ResponseWriter, r *http.Request) {
	ref := chi.URLParam(r, "didRef")
	d, err := did.Parse(ref)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	doc, err := d.Document()
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resolutionResponse{
		Context:     "https://w3id.org/did-resolution/v1",
		DIDDocument: doc,
		DIDDocumentMetadata: map[string]any{
			"deactivated": false,
			"canonicalId": d.ShortForm(),
			"versionId":   d.Suffix(),
			"published":   false,
		},
		DIDResolutionMetadata: map[string]string{"contentType": "application/did+ld+json"},
	})
}
