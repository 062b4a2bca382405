package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prism-agent/prism-agent/internal/iam"
	"github.com/prism-agent/prism-agent/internal/wallet"
)

type putSecretRequest struct {
	Value *string `json:"value"`
	CAS   *int    `json:"cas,omitempty"`
}

type secretVersionResponse struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

type secretResponse struct {
	Name        string    `json:"name"`
	Value       string    `json:"value"`
	Version     int       `json:"version"`
	CreatedTime time.Time `json:"createdTime"`
}

type versionsRequest struct {
	Versions []int `json:"versions"`
}

type metadataVersion struct {
	Version     int        `json:"version"`
	CreatedTime time.Time  `json:"createdTime"`
	DeletedTime *time.Time `json:"deletedTime,omitempty"`
	Destroyed   bool       `json:"destroyed"`
}

type metadataResponse struct {
	Name           string            `json:"name"`
	CurrentVersion int               `json:"currentVersion"`
	OldestVersion  int               `json:"oldestVersion"`
	CreatedTime    time.Time         `json:"createdTime"`
	UpdatedTime    time.Time         `json:"updatedTime"`
	Versions       []metadataVersion `json:"versions"`
}

type secretName struct {
	Name string `json:"name"`
}

// callerWallet opens the wallet of the authenticated tenant.
func (s *Server) callerWallet(r *http.Request) (*wallet.Wallet, error) {
	p, ok := principal(r)
	if !ok {
		return nil, iam.ErrUnauthenticated
	}
	return s.wallets.Open(r.Context(), p.Wallet)
}

// wrongAction answers 405 when the path names a secret action that the
// method does not serve (GET .../undelete, DELETE .../metadata, ...).
func wrongAction(w http.ResponseWriter, r *http.Request, actions map[string]string) bool {
	for suffix, allow := range actions {
		if strings.HasSuffix(r.URL.Path, "/"+suffix) {
			w.Header().Set("Allow", allow)
			writeProblem(w, r, http.StatusMethodNotAllowed, "method-not-allowed",
				"the method "+r.Method+" is not allowed on this resource")
			return true
		}
	}
	return false
}

// secretRef splits "/secrets/<name>[/<action>]" into name and action.
func secretRef(r *http.Request, actions ...string) (name, action string) {
	name = strings.TrimPrefix(r.URL.Path, "/secrets/")
	for _, a := range actions {
		if rest, ok := strings.CutSuffix(name, "/"+a); ok {
			return rest, a
		}
	}
	return name, ""
}

func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) {
	if wrongAction(w, r, map[string]string{"metadata": "GET, HEAD", "undelete": "POST", "destroy": "POST"}) {
		return
	}
	name, _ := secretRef(r)
	var req putSecretRequest
	if err := decodeJSON(r, &req); err != nil {
		s.renderError(w, r, err)
		return
	}
	if req.Value == nil {
		s.renderError(w, r, fmt.Errorf("%w: the field \"value\" is required", errBadRequest))
		return
	}
	wal, err := s.callerWallet(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v, err := wal.PutSecret(r.Context(), name, *req.Value, req.CAS)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	status := http.StatusOK
	if v == 1 {
		status = http.StatusCreated
	}
	writeJSON(w, status, secretVersionResponse{Name: name, Version: v})
}

func (s *Server) getSecretOrMetadata(w http.ResponseWriter, r *http.Request) {
	if wrongAction(w, r, map[string]string{"undelete": "POST", "destroy": "POST"}) {
		return
	}
	name, action := secretRef(r, "metadata")
	wal, err := s.callerWallet(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if action == "metadata" {
		s.secretMetadata(w, r, wal, name)
		return
	}
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		if version, err = strconv.Atoi(v); err != nil || version < 1 {
			s.renderError(w, r, fmt.Errorf("%w: version must be a positive integer", errBadRequest))
			return
		}
	}
	sec, err := wal.GetSecret(r.Context(), name, version)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, secretResponse{Name: name, Value: sec.Value, Version: sec.Version,
		CreatedTime: sec.Created.UTC()})
}

func (s *Server) secretMetadata(w http.ResponseWriter, r *http.Request, wal *wallet.Wallet, name string) {
	md, err := wal.SecretMetadata(r.Context(), name)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	resp := metadataResponse{Name: name, CurrentVersion: md.CurrentVersion, OldestVersion: md.OldestVersion,
		CreatedTime: md.Created.UTC(), UpdatedTime: md.Updated.UTC(),
		Versions: make([]metadataVersion, 0, len(md.Versions))}
	for _, v := range md.Versions {
		mv := metadataVersion{Version: v.Version, CreatedTime: v.Created.UTC(), Destroyed: v.Destroyed}
		if v.Deleted != nil {
			t := v.Deleted.UTC()
			mv.DeletedTime = &t
		}
		resp.Versions = append(resp.Versions, mv)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	if wrongAction(w, r, map[string]string{"metadata": "GET, HEAD", "undelete": "POST", "destroy": "POST"}) {
		return
	}
	name, _ := secretRef(r)
	versions, err := versionsQuery(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	wal, err := s.callerWallet(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := wal.DeleteSecret(r.Context(), name, versions); err != nil {
		s.renderError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// secretAction serves POST .../undelete and POST .../destroy; their body
// {"versions": [...]} is optional and defaults to the current version.
func (s *Server) secretAction(w http.ResponseWriter, r *http.Request) {
	name, action := secretRef(r, "undelete", "destroy")
	if action == "" {
		writeProblem(w, r, http.StatusMethodNotAllowed, "method-not-allowed",
			"the method POST is not allowed on this resource")
		return
	}
	var req versionsRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			s.renderError(w, r, err)
			return
		}
	}
	wal, err := s.callerWallet(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	op := wal.UndeleteSecret
	if action == "destroy" {
		op = wal.DestroySecret
	}
	if err := op(r.Context(), name, req.Versions); err != nil {
		s.renderError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
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
	names, err := wal.ListSecrets(r.Context())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	contents := []secretName{}
	for i := offset; i < len(names) && i < offset+limit; i++ {
		contents = append(contents, secretName{Name: names[i]})
	}
	writeJSON(w, http.StatusOK, s.newPage(r, "SecretPage", offset, limit, len(names), contents))
}

// versionsQuery reads ?versions=1,2,3.
func versionsQuery(r *http.Request) ([]int, error) {
	raw := r.URL.Query().Get("versions")
	if raw == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(raw, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%w: versions must be a comma-separated list of positive integers",
				errBadRequest)
		}
		out = append(out, v)
	}
	return out, nil
}
