package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/prism-agent/prism-agent/internal/seed"
	"github.com/prism-agent/prism-agent/internal/store"
	"github.com/prism-agent/prism-agent/internal/wallet"
)

type createWalletRequest struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
	// Seed is 128 hex characters or a BIP39 mnemonic.
	Seed       *string `json:"seed,omitempty"`
	Passphrase string  `json:"passphrase,omitempty"`
}

type walletResponse struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func toWalletResponse(w store.Wallet) walletResponse {
	return walletResponse{ID: w.ID, Name: w.Name, State: string(w.State),
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC()}
}

type entityRequest struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	WalletID string `json:"walletId"`
}

type entityResponse struct {
	Kind      string    `json:"kind"`
	Self      string    `json:"self"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	WalletID  string    `json:"walletId"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (s *Server) toEntityResponse(e store.Entity) entityResponse {
	return entityResponse{Kind: "Entity", Self: s.prefix + "/iam/entities/" + e.ID, ID: e.ID, Name: e.Name,
		WalletID: e.WalletID, CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
}

type apiKeyRequest struct {
	EntityID string `json:"entityId"`
	APIKey   string `json:"apiKey"`
}

// adminOrTenant authenticates a request that carries x-admin-api-key as
// the operator and any other as a tenant.
func (s *Server) adminOrTenant(next http.Handler) http.Handler {
	tenant, admin := s.tenantOnly(next), s.adminOnly(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-admin-api-key") != "" {
			admin.ServeHTTP(w, r)
			return
		}
		tenant.ServeHTTP(w, r)
	})
}

func (s *Server) createWallet(w http.ResponseWriter, r *http.Request) {
	var req createWalletRequest
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	p := wallet.CreateParams{ID: req.ID, Name: req.Name}
	if req.Seed != nil {
		seed, err := s.parseSeed(*req.Seed, req.Passphrase)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		defer clear(seed)
		p.Seed = seed
	} else if req.Passphrase != "" {
		s.renderError(w, r, fmt.Errorf("%w: a passphrase applies to a mnemonic seed only", errBadRequest))
		return
	}
	rec, err := s.wallets.Create(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toWalletResponse(rec))
}

// parseSeed accepts 128 hex characters or a BIP39 mnemonic with an
// optional passphrase.
func (s *Server) parseSeed(value, passphrase string) ([]byte, error) {
	sd, err := seed.Parse(value, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return sd.Bytes(), nil
}

func (s *Server) listWallets(w http.ResponseWriter, r *http.Request) {
	offset, limit, err := pageParams(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	var recs []store.Wallet
	var total int
	if p, ok := principal(r); ok {
		// A tenant sees its own wallet only.
		recs, total = []store.Wallet{p.Wallet}, 1
		if offset > 0 {
			recs = nil
		}
	} else if recs, total, err = s.wallets.List(r.Context(), store.Page{Offset: offset, Limit: limit}); err != nil {
		s.renderError(w, r, err)
		return
	}
	contents := make([]walletResponse, 0, len(recs))
	for _, rec := range recs {
		contents = append(contents, toWalletResponse(rec))
	}
	writeJSON(w, http.StatusOK, s.newPage(r, "WalletDetailPage", offset, limit, total, contents))
}

func (s *Server) getWallet(w http.ResponseWriter, r *http.Request) {
	id := strings.ToLower(chi.URLParam(r, "walletId"))
	if p, ok := principal(r); ok && p.Wallet.ID != id {
		s.renderError(w, r, wallet.ErrNotFound)
		return
	}
	rec, err := s.wallets.Get(r.Context(), id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toWalletResponse(rec))
}

func (s *Server) createEntity(w http.ResponseWriter, r *http.Request) {
	var req entityRequest
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	ent, err := s.entities.Create(r.Context(), req.ID, req.Name, req.WalletID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.toEntityResponse(ent))
}

func (s *Server) listEntities(w http.ResponseWriter, r *http.Request) {
	offset, limit, err := pageParams(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ents, total, err := s.entities.List(r.Context(), store.Page{Offset: offset, Limit: limit})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	contents := make([]entityResponse, 0, len(ents))
	for _, e := range ents {
		contents = append(contents, s.toEntityResponse(e))
	}
	writeJSON(w, http.StatusOK, s.newPage(r, "EntityResponsePage", offset, limit, total, contents))
}

func (s *Server) getEntity(w http.ResponseWriter, r *http.Request) {
	ent, err := s.entities.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.toEntityResponse(ent))
}

func (s *Server) deleteEntity(w http.ResponseWriter, r *http.Request) {
	if err := s.entities.Delete(r.Context(), chi.URLParam(r, "id")); err != nil {
		s.renderError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) renameEntity(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	ent, err := s.entities.Rename(r.Context(), chi.URLParam(r, "id"), req.Name)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.toEntityResponse(ent))
}

func (s *Server) moveEntity(w http.ResponseWriter, r *http.Request) {
	var req struct {
		WalletID string `json:"walletId"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	ent, err := s.entities.MoveToWallet(r.Context(), chi.URLParam(r, "id"), req.WalletID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.toEntityResponse(ent))
}

func (s *Server) addAPIKey(w http.ResponseWriter, r *http.Request) {
	var req apiKeyRequest
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.entities.AddAPIKey(r.Context(), req.EntityID, req.APIKey); err != nil {
		s.renderError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) removeAPIKey(w http.ResponseWriter, r *http.Request) {
	var req apiKeyRequest
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.entities.RemoveAPIKey(r.Context(), req.EntityID, req.APIKey); err != nil {
		s.renderError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setWalletState(state store.WalletState) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec, err := s.wallets.SetState(r.Context(), strings.ToLower(chi.URLParam(r, "walletId")), state)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toWalletResponse(rec))
	}
}
