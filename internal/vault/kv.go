package vault

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// valueField is the KV field that holds a secret's value, as in the Identus
// Cloud Agent's layout.
const valueField = "value"

// Custom metadata keys that keep the Name of a secret stored at its hash.
// Vault accepts only printable metadata values of at most 512 bytes, so
// other names are stored base64url-encoded in chunks.
const (
	nameKey       = "name"
	nameChunkKey  = "name_b64_"
	nameChunkLen  = 500
	nameMaxLen    = 512
	listLookupMax = 8 // concurrent metadata reads of a hashed List
)

// kvStore is a secret.Store on a KV version 2 mount.
type kvStore struct {
	c        *Client
	fixed    *api.Client // a caller's token; nil: the agent's current token
	fixedErr error
	mount    string
	semantic bool
}

var _ secret.Store = (*kvStore)(nil)

// logicalCall is one request to Vault's logical API.
type logicalCall func(*api.Logical) (*api.Secret, error)

// call runs fn with the store's token. With the agent's own token, a
// request that Vault refuses because the token is no longer valid is sent
// once more after a new login.
func (s *kvStore) call(ctx context.Context, fn logicalCall) (*api.Secret, error) {
	if s.fixedErr != nil {
		return nil, s.fixedErr
	}
	if s.fixed != nil {
		return fn(s.fixed.Logical())
	}
	st := s.c.current()
	sec, err := fn(st.client.Logical())
	if err == nil || !isForbidden(err) || !(isInvalidToken(err) || st.expired()) {
		return sec, err
	}
	next, ok := s.c.recoverToken(ctx, st)
	if !ok {
		return sec, err
	}
	s.c.stats.tokenRetries.Add(1)
	return fn(next.client.Logical())
}

func (s *kvStore) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.c.cfg.RequestTimeout)
}

// vaultPath is where p lives inside the mount.
func (s *kvStore) vaultPath(p secret.Path) string {
	if s.semantic {
		return p.Dir + "/" + p.Name
	}
	return p.Dir + "/" + hashName(p.Name)
}

func (s *kvStore) kvPath(endpoint, rel string) string {
	return s.mount + "/" + endpoint + "/" + rel
}

func hashName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// Put writes a new version of p.
func (s *kvStore) Put(ctx context.Context, p secret.Path, value string,
	opts secret.PutOptions,
) (int, error) {
	const op = "writing secret"
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	rctx, cancel := s.opCtx(ctx)
	defer cancel()
	vp := s.vaultPath(p)

	if !s.semantic {
		// The name goes in first: a crash between the two writes leaves
		// metadata without versions, which reads as never written, rather
		// than a version that List could not name.
		meta := map[string]any{"custom_metadata": nameMetadata(p.Name)}
		_, err := s.call(rctx, func(l *api.Logical) (*api.Secret, error) {
			return l.WriteWithContext(rctx, s.kvPath("metadata", vp), meta)
		})
		if err != nil {
			return 0, classify(op, ctx, err)
		}
	}

	body := map[string]any{"data": map[string]any{valueField: value}}
	if opts.CAS != nil {
		body["options"] = map[string]any{"cas": *opts.CAS}
	}
	sec, err := s.call(rctx, func(l *api.Logical) (*api.Secret, error) {
		return l.WriteWithContext(rctx, s.kvPath("data", vp), body)
	})
	if err != nil {
		return 0, classify(op, ctx, err)
	}
	if sec == nil {
		return 0, fmt.Errorf("%s: vault returned no version", op)
	}
	v := int(number(sec.Data["version"]))
	if v <= 0 {
		return 0, fmt.Errorf("%s: vault returned no version", op)
	}
	return v, nil
}

// Get reads version of p (0: the current version).
func (s *kvStore) Get(ctx context.Context, p secret.Path, version int) (secret.Secret, error) {
	const op = "reading secret"
	if err := p.Validate(); err != nil {
		return secret.Secret{}, fmt.Errorf("%s: %w", op, err)
	}
	if version < 0 {
		return secret.Secret{}, fmt.Errorf("%s: %w", op, secret.ErrNotFound)
	}
	rctx, cancel := s.opCtx(ctx)
	defer cancel()

	var params map[string][]string
	if version > 0 {
		params = map[string][]string{"version": {strconv.Itoa(version)}}
	}
	sec, err := s.call(rctx, func(l *api.Logical) (*api.Secret, error) {
		return l.ReadWithDataWithContext(rctx, s.kvPath("data", s.vaultPath(p)), params)
	})
	if err != nil {
		return secret.Secret{}, classify(op, ctx, err)
	}
	// Vault answers 404 for a missing, deleted or destroyed version; the
	// last two carry metadata but no data.
	if sec == nil || sec.Data == nil {
		return secret.Secret{}, fmt.Errorf("%s: %w", op, secret.ErrNotFound)
	}
	data, _ := sec.Data["data"].(map[string]any)
	meta, _ := sec.Data["metadata"].(map[string]any)
	if data == nil || meta == nil {
		return secret.Secret{}, fmt.Errorf("%s: %w", op, secret.ErrNotFound)
	}
	value, ok := data[valueField].(string)
	if !ok {
		return secret.Secret{}, fmt.Errorf("%s: the vault secret has no %q field", op, valueField)
	}
	return secret.Secret{
		Value:   value,
		Version: int(number(meta["version"])),
		Created: parseTime(meta["created_time"]),
	}, nil
}

// Delete soft-deletes versions of p (the current one if none is given).
func (s *kvStore) Delete(ctx context.Context, p secret.Path, versions ...int) error {
	return s.versionsOp(ctx, "deleting secret", "delete", p, versions)
}

// Undelete restores soft-deleted versions of p (the current one if none
// is given).
func (s *kvStore) Undelete(ctx context.Context, p secret.Path, versions ...int) error {
	return s.versionsOp(ctx, "undeleting secret", "undelete", p, versions)
}

// Destroy removes the values of versions of p permanently (the current
// one if none is given).
func (s *kvStore) Destroy(ctx context.Context, p secret.Path, versions ...int) error {
	return s.versionsOp(ctx, "destroying secret", "destroy", p, versions)
}

func (s *kvStore) versionsOp(ctx context.Context, op, endpoint string, p secret.Path,
	versions []int,
) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	rctx, cancel := s.opCtx(ctx)
	defer cancel()

	// Vault accepts these on paths that were never written; the contract
	// wants ErrNotFound, and without versions the current one is needed.
	md, err := s.metadata(rctx, p)
	if err != nil {
		return classify(op, ctx, err)
	}
	if md == nil {
		return fmt.Errorf("%s: %w", op, secret.ErrNotFound)
	}
	if len(versions) == 0 {
		versions = []int{md.CurrentVersion}
	}
	body := map[string]any{"versions": versions}
	_, err = s.call(rctx, func(l *api.Logical) (*api.Secret, error) {
		return l.WriteWithContext(rctx, s.kvPath(endpoint, s.vaultPath(p)), body)
	})
	return classify(op, ctx, err)
}

// Metadata describes all versions of p.
func (s *kvStore) Metadata(ctx context.Context, p secret.Path) (secret.Metadata, error) {
	const op = "reading secret metadata"
	if err := p.Validate(); err != nil {
		return secret.Metadata{}, fmt.Errorf("%s: %w", op, err)
	}
	rctx, cancel := s.opCtx(ctx)
	defer cancel()

	md, err := s.metadata(rctx, p)
	if err != nil {
		return secret.Metadata{}, classify(op, ctx, err)
	}
	if md == nil {
		return secret.Metadata{}, fmt.Errorf("%s: %w", op, secret.ErrNotFound)
	}
	return *md, nil
}

// metadata reads p's metadata; nil means never written. Errors are the API
// client's, for classify.
func (s *kvStore) metadata(ctx context.Context, p secret.Path) (*secret.Metadata, error) {
	sec, err := s.call(ctx, func(l *api.Logical) (*api.Secret, error) {
		return l.ReadWithContext(ctx, s.kvPath("metadata", s.vaultPath(p)))
	})
	if err != nil || sec == nil {
		return nil, err
	}
	md := parseMetadata(sec.Data)
	if md == nil {
		return nil, nil
	}
	md.Name = p.Name
	return md, nil
}

// parseMetadata maps KV metadata; nil when it has no version (a hashed
// write that stopped after storing the name).
func parseMetadata(data map[string]any) *secret.Metadata {
	md := &secret.Metadata{
		CurrentVersion: int(number(data["current_version"])),
		Created:        parseTime(data["created_time"]),
		Updated:        parseTime(data["updated_time"]),
	}
	raw, _ := data["versions"].(map[string]any)
	for k, v := range raw {
		n, err := strconv.Atoi(k)
		vm, _ := v.(map[string]any)
		if err != nil || vm == nil {
			continue
		}
		ver := secret.Version{
			Version:   n,
			Created:   parseTime(vm["created_time"]),
			Destroyed: vm["destroyed"] == true,
		}
		if t := parseTime(vm["deletion_time"]); !t.IsZero() {
			ver.Deleted = &t
		}
		md.Versions = append(md.Versions, ver)
	}
	if md.CurrentVersion == 0 || len(md.Versions) == 0 {
		return nil
	}
	slices.SortFunc(md.Versions, func(a, b secret.Version) int { return a.Version - b.Version })
	// Vault reports oldest_version 0 until versions are pruned; the
	// contract wants the lowest version present.
	md.OldestVersion = md.Versions[0].Version
	return md
}

func parseTime(v any) time.Time {
	s, _ := v.(string)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// List returns the path relative to dir of every secret below dir, at any
// depth, sorted.
func (s *kvStore) List(ctx context.Context, dir string) ([]string, error) {
	const op = "listing secrets"
	if err := secret.ValidateDir(dir); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rctx, cancel := s.opCtx(ctx)
	defer cancel()

	var leaves []leaf
	if err := s.walk(rctx, dir, "", &leaves); err != nil {
		return nil, classify(op, ctx, err)
	}
	names := make([]string, 0, len(leaves))
	if s.semantic {
		for _, l := range leaves {
			names = append(names, l.prefix+l.key)
		}
	} else {
		var err error
		if names, err = s.nameLeaves(rctx, leaves); err != nil {
			return nil, classify(op, ctx, err)
		}
	}
	slices.Sort(names)
	return names, nil
}

// leaf is a secret found by walk: key inside folder dir, which is prefix
// below the listed directory.
type leaf struct {
	dir, prefix, key string
}

func (s *kvStore) walk(ctx context.Context, dir, prefix string, out *[]leaf) error {
	sec, err := s.call(ctx, func(l *api.Logical) (*api.Secret, error) {
		return l.ListWithContext(ctx, s.kvPath("metadata", dir))
	})
	if err != nil || sec == nil {
		return err
	}
	keys, _ := sec.Data["keys"].([]any)
	for _, k := range keys {
		key, _ := k.(string)
		switch {
		case key == "":
		case strings.HasSuffix(key, "/"):
			sub := strings.TrimSuffix(key, "/")
			if err := s.walk(ctx, dir+"/"+sub, prefix+key, out); err != nil {
				return err
			}
		default:
			*out = append(*out, leaf{dir: dir, prefix: prefix, key: key})
		}
	}
	return nil
}

// nameLeaves maps hashed keys back to names through their custom
// metadata. Entries that are not the hash of the name they carry were not
// written by this store and are left out, as are names without versions.
func (s *kvStore) nameLeaves(ctx context.Context, leaves []leaf) ([]string, error) {
	var mu sync.Mutex
	names := make([]string, 0, len(leaves))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listLookupMax)
	for _, lf := range leaves {
		g.Go(func() error {
			sec, err := s.call(gctx, func(l *api.Logical) (*api.Secret, error) {
				return l.ReadWithContext(gctx, s.kvPath("metadata", lf.dir+"/"+lf.key))
			})
			if err != nil || sec == nil {
				return err
			}
			name := nameFromMetadata(sec.Data["custom_metadata"])
			if name == "" || hashName(name) != lf.key || parseMetadata(sec.Data) == nil {
				return nil
			}
			mu.Lock()
			names = append(names, lf.prefix+name)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return names, nil
}

// nameMetadata is the custom metadata that records name.
func nameMetadata(name string) map[string]string {
	printable := strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
	if printable && len(name) <= nameMaxLen {
		return map[string]string{nameKey: name}
	}
	enc := base64.RawURLEncoding.EncodeToString([]byte(name))
	m := make(map[string]string)
	for i := 0; enc != ""; i++ {
		n := min(len(enc), nameChunkLen)
		m[nameChunkKey+strconv.Itoa(i)] = enc[:n]
		enc = enc[n:]
	}
	return m
}

// nameFromMetadata reverses nameMetadata; "" when there is no name.
func nameFromMetadata(v any) string {
	cm, _ := v.(map[string]any)
	if name, ok := cm[nameKey].(string); ok {
		return name
	}
	var enc strings.Builder
	for i := 0; ; i++ {
		chunk, ok := cm[nameChunkKey+strconv.Itoa(i)].(string)
		if !ok {
			break
		}
		enc.WriteString(chunk)
	}
	b, err := base64.RawURLEncoding.DecodeString(enc.String())
	if err != nil {
		return ""
	}
	return string(b)
}

// Ping reports whether Vault answers, is initialised and unsealed, and
// (for the agent's own token) whether the token is still valid.
func (s *kvStore) Ping(ctx context.Context) error {
	const op = "checking vault"
	if s.fixedErr != nil {
		return s.fixedErr
	}
	rctx, cancel := s.opCtx(ctx)
	defer cancel()

	cl := s.fixed
	var st *tokenState
	if cl == nil {
		st = s.c.current()
		cl = st.client
	}
	h, err := cl.Sys().HealthWithContext(rctx)
	switch {
	case err != nil:
		return classify(op, ctx, err)
	case !h.Initialized:
		return fmt.Errorf("%s: %w: vault is not initialised", op, secret.ErrUnavailable)
	case h.Sealed:
		return fmt.Errorf("%s: %w: vault is sealed", op, secret.ErrUnavailable)
	case st != nil && st.expired():
		return fmt.Errorf("%s: %w: %w", op, secret.ErrUnavailable, ErrInvalidToken)
	}
	return nil
}
