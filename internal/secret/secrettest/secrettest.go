// Package secrettest is the contract suite that every secret.Store
// implementation must pass, so the Vault store and the embedded store behave
// the same for the wallet package above them.
//
// The suite pins down what the secret.Store comment leaves open:
//
//   - A value is any UTF-8 string, the empty string included.
//   - A Name may contain '/' ("team/db/password"); the secret then lives at
//     Dir + "/" + Name like any other.
//   - List(dir) returns, sorted ascending by bytes, the path relative to dir
//     of every secret stored below dir, at any depth: a secret written as
//     {Dir: "w/generic-secrets", Name: "team/db/password"} is listed as
//     "team/db/password" by List("w/generic-secrets") and as
//     "generic-secrets/team/db/password" by List("w"). Only secrets are
//     listed, never intermediate folders ("team/"). A directory is a whole
//     prefix of segments: List("w/generic-secrets") never shows anything
//     stored under "w/generic-secrets-x". A directory with nothing below it
//     lists as empty, without error. Callers list a Dir they write with, or a
//     parent of one; listing a folder that exists only inside Names (e.g.
//     "w/generic-secrets/team" above) is not specified, because a store that
//     hashes Names cannot see it.
//   - Metadata.Name is the Name the caller asked for; OldestVersion is the
//     lowest version still present in Versions (1 until versions are pruned;
//     Vault itself reports 0 then, so the Vault store normalizes it).
//   - Delete, Undelete and Destroy are idempotent and ignore versions that do
//     not exist; a destroyed version stays destroyed.
//   - Every method rejects a malformed path (see secret.Path.Validate) with
//     secret.ErrInvalidPath before touching the backend.
//
// Stores under test may share one backend (a Vault server): every test works
// below its own random top-level directory and never uses fixed paths.
package secrettest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// Run runs the contract suite against stores made by newStore, once per
// subtest. newStore must return a ready store and register its cleanup with
// t; it may hand out the same backend every time.
func Run(t *testing.T, newStore func(t *testing.T) secret.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s secret.Store)
	}{
		{"put-get", testPutGet},
		{"versions", testVersions},
		{"get-not-found", testGetNotFound},
		{"cas", testCAS},
		{"cas-concurrent-write-once", testConcurrentWriteOnce},
		{"delete", testDelete},
		{"undelete", testUndelete},
		{"destroy", testDestroy},
		{"never-written", testNeverWritten},
		{"metadata", testMetadata},
		{"list", testList},
		{"names", testNames},
		{"isolation", testIsolation},
		{"invalid-path", testInvalidPath},
		{"ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// fixture is one test's private corner of the store: root stands for a
// wallet id, dir for that wallet's generic-secrets directory.
type fixture struct {
	s    secret.Store
	root string
	dir  string
}

func newFixture(t *testing.T, s secret.Store) fixture {
	t.Helper()
	root := randomRoot(t)
	return fixture{s: s, root: root, dir: root + "/generic-secrets"}
}

func randomRoot(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	return "t" + hex.EncodeToString(b)
}

func (f fixture) path(name string) secret.Path {
	return secret.Path{Dir: f.dir, Name: name}
}

func cas(v int) secret.PutOptions { return secret.PutOptions{CAS: &v} }

func mustPut(t *testing.T, s secret.Store, p secret.Path, value string) int {
	t.Helper()
	v, err := s.Put(t.Context(), p, value, secret.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%q): %v", p, err)
	}
	return v
}

func mustGet(t *testing.T, s secret.Store, p secret.Path, version int) secret.Secret {
	t.Helper()
	got, err := s.Get(t.Context(), p, version)
	if err != nil {
		t.Fatalf("Get(%q, %d): %v", p, version, err)
	}
	return got
}

func mustMetadata(t *testing.T, s secret.Store, p secret.Path) secret.Metadata {
	t.Helper()
	md, err := s.Metadata(t.Context(), p)
	if err != nil {
		t.Fatalf("Metadata(%q): %v", p, err)
	}
	return md
}

func mustList(t *testing.T, s secret.Store, dir string) []string {
	t.Helper()
	names, err := s.List(t.Context(), dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	return names
}

func wantErr(t *testing.T, err, target error, op string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", op, err, target)
	}
}

// wantValue compares values without printing large ones.
func wantValue(t *testing.T, got secret.Secret, value string, version int) {
	t.Helper()
	if got.Value != value {
		if len(value) > 80 || len(got.Value) > 80 {
			t.Fatalf("version %d: got a %d-byte value that differs from the %d-byte value written",
				got.Version, len(got.Value), len(value))
		}
		t.Fatalf("version %d: got value %q, want %q", got.Version, got.Value, value)
	}
	if got.Version != version {
		t.Fatalf("got version %d, want %d", got.Version, version)
	}
	if got.Created.IsZero() {
		t.Fatalf("version %d: Created is zero", got.Version)
	}
}

func testPutGet(t *testing.T, s secret.Store) {
	big := make([]byte, 64<<10)
	if _, err := rand.Read(big[:len(big)/2]); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	hex.Encode(big, big[:len(big)/2])

	tests := []struct {
		name  string
		value string
	}{
		{"ok/plain", "s3cr3t value"},
		{"ok/empty", ""},
		{"ok/unicode", "пароль 🔑 café 秘密"},
		{"ok/whitespace-and-nul", "line 1\nline 2\t\x00 end\r\n"},
		{"ok/64KiB", string(big)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, s)
			p := f.path("value")
			if v := mustPut(t, s, p, tc.value); v != 1 {
				t.Fatalf("first Put returned version %d, want 1", v)
			}
			wantValue(t, mustGet(t, s, p, 0), tc.value, 1)
			wantValue(t, mustGet(t, s, p, 1), tc.value, 1)
		})
	}
}

func testVersions(t *testing.T, s secret.Store) {
	f := newFixture(t, s)
	p := f.path("rotating")
	values := []string{"one", "two", "three"}
	for i, value := range values {
		if v := mustPut(t, s, p, value); v != i+1 {
			t.Fatalf("Put #%d returned version %d, want %d", i+1, v, i+1)
		}
	}

	t.Run("ok/current", func(t *testing.T) {
		wantValue(t, mustGet(t, s, p, 0), "three", 3)
	})
	for i, value := range values {
		t.Run(fmt.Sprintf("ok/version-%d", i+1), func(t *testing.T) {
			wantValue(t, mustGet(t, s, p, i+1), value, i+1)
		})
	}
}

func testGetNotFound(t *testing.T, s secret.Store) {
	f := newFixture(t, s)
	p := f.path("existing")
	for range 3 {
		mustPut(t, s, p, "v")
	}

	tests := []struct {
		name    string
		p       secret.Path
		version int
	}{
		{"fail/unknown-name", f.path("missing"), 0},
		{"fail/unknown-name-version", f.path("missing"), 1},
		{"fail/version-after-current", p, 4},
		{"fail/far-version", p, 1000},
		{"fail/sibling-dir", secret.Path{Dir: f.dir + "-x", Name: "existing"}, 0},
		{"fail/name-prefix", f.path("exist"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Get(t.Context(), tc.p, tc.version)
			wantErr(t, err, secret.ErrNotFound, fmt.Sprintf("Get(%q, %d)", tc.p, tc.version))
		})
	}
}

func testCAS(t *testing.T, s secret.Store) {
	ctx := t.Context()

	t.Run("ok/zero-on-new-path", func(t *testing.T) {
		f := newFixture(t, s)
		v, err := s.Put(ctx, f.path("seed"), "first", cas(0))
		if err != nil || v != 1 {
			t.Fatalf("Put(cas=0) on a new path: version %d, error %v; want 1, nil", v, err)
		}
		wantValue(t, mustGet(t, s, f.path("seed"), 0), "first", 1)
	})
	t.Run("fail/zero-on-existing-path", func(t *testing.T) {
		f := newFixture(t, s)
		p := f.path("seed")
		mustPut(t, s, p, "first")
		_, err := s.Put(ctx, p, "second", cas(0))
		wantErr(t, err, secret.ErrCASMismatch, "Put(cas=0) on an existing path")
		wantValue(t, mustGet(t, s, p, 0), "first", 1)
	})
	t.Run("fail/zero-after-delete", func(t *testing.T) {
		f := newFixture(t, s)
		p := f.path("seed")
		mustPut(t, s, p, "first")
		if err := s.Delete(ctx, p); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err := s.Put(ctx, p, "second", cas(0))
		wantErr(t, err, secret.ErrCASMismatch, "Put(cas=0) on a deleted path")
	})
	t.Run("ok/current-version", func(t *testing.T) {
		f := newFixture(t, s)
		p := f.path("key")
		mustPut(t, s, p, "first")
		mustPut(t, s, p, "second")
		v, err := s.Put(ctx, p, "third", cas(2))
		if err != nil || v != 3 {
			t.Fatalf("Put(cas=2) at version 2: version %d, error %v; want 3, nil", v, err)
		}
		wantValue(t, mustGet(t, s, p, 0), "third", 3)
	})
	t.Run("fail/stale-version", func(t *testing.T) {
		f := newFixture(t, s)
		p := f.path("key")
		mustPut(t, s, p, "first")
		mustPut(t, s, p, "second")
		_, err := s.Put(ctx, p, "third", cas(1))
		wantErr(t, err, secret.ErrCASMismatch, "Put(cas=1) at version 2")
		wantValue(t, mustGet(t, s, p, 0), "second", 2)
	})
	t.Run("fail/future-version", func(t *testing.T) {
		f := newFixture(t, s)
		p := f.path("key")
		mustPut(t, s, p, "first")
		_, err := s.Put(ctx, p, "second", cas(2))
		wantErr(t, err, secret.ErrCASMismatch, "Put(cas=2) at version 1")
		wantValue(t, mustGet(t, s, p, 0), "first", 1)
	})
	t.Run("fail/nonzero-on-new-path", func(t *testing.T) {
		f := newFixture(t, s)
		_, err := s.Put(ctx, f.path("key"), "first", cas(1))
		wantErr(t, err, secret.ErrCASMismatch, "Put(cas=1) on a new path")
		_, err = s.Metadata(ctx, f.path("key"))
		wantErr(t, err, secret.ErrNotFound, "Metadata after a refused write")
	})
}

func testConcurrentWriteOnce(t *testing.T, s secret.Store) {
	const writers = 16
	f := newFixture(t, s)
	p := f.path("seed")

	start := make(chan struct{})
	errs := make([]error, writers)
	versions := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			versions[i], errs[i] = s.Put(t.Context(), p, fmt.Sprintf("writer-%02d", i), cas(0))
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("writers %d and %d both succeeded with cas=0", winner, i)
			}
			if versions[i] != 1 {
				t.Fatalf("winning writer got version %d, want 1", versions[i])
			}
			winner = i
		case !errors.Is(err, secret.ErrCASMismatch):
			t.Fatalf("writer %d: got error %v, want %v", i, err, secret.ErrCASMismatch)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer succeeded")
	}
	wantValue(t, mustGet(t, s, p, 0), fmt.Sprintf("writer-%02d", winner), 1)
	if md := mustMetadata(t, s, p); md.CurrentVersion != 1 || len(md.Versions) != 1 {
		t.Fatalf("after one successful write: current version %d with %d versions, want 1 and 1",
			md.CurrentVersion, len(md.Versions))
	}
}

// putVersions writes "v1".."vn" to a fresh path and returns it.
func putVersions(t *testing.T, s secret.Store, n int) (fixture, secret.Path) {
	t.Helper()
	f := newFixture(t, s)
	p := f.path("subject")
	for i := 1; i <= n; i++ {
		mustPut(t, s, p, fmt.Sprintf("v%d", i))
	}
	return f, p
}

func versionMeta(t *testing.T, md secret.Metadata, version int) secret.Version {
	t.Helper()
	for _, v := range md.Versions {
		if v.Version == version {
			return v
		}
	}
	t.Fatalf("metadata has no version %d (versions %+v)", version, md.Versions)
	return secret.Version{}
}

func testDelete(t *testing.T, s secret.Store) {
	ctx := t.Context()

	t.Run("ok/current", func(t *testing.T) {
		f, p := putVersions(t, s, 2)
		if err := s.Delete(ctx, p); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err := s.Get(ctx, p, 0)
		wantErr(t, err, secret.ErrNotFound, "Get(current) after Delete")
		_, err = s.Get(ctx, p, 2)
		wantErr(t, err, secret.ErrNotFound, "Get(2) after Delete")
		wantValue(t, mustGet(t, s, p, 1), "v1", 1)

		md := mustMetadata(t, s, p)
		if md.CurrentVersion != 2 {
			t.Fatalf("CurrentVersion after Delete = %d, want 2", md.CurrentVersion)
		}
		if v := versionMeta(t, md, 2); v.Deleted == nil || v.Deleted.IsZero() || v.Destroyed {
			t.Fatalf("version 2 after Delete: %+v, want Deleted set and not Destroyed", v)
		}
		if v := versionMeta(t, md, 1); v.Deleted != nil {
			t.Fatalf("version 1 after deleting version 2: %+v, want it live", v)
		}
		if names := mustList(t, s, f.dir); !slices.Equal(names, []string{"subject"}) {
			t.Fatalf("List after Delete = %q, want [subject]", names)
		}
	})
	t.Run("ok/given-versions", func(t *testing.T) {
		_, p := putVersions(t, s, 3)
		if err := s.Delete(ctx, p, 1, 2); err != nil {
			t.Fatalf("Delete(1, 2): %v", err)
		}
		for _, v := range []int{1, 2} {
			_, err := s.Get(ctx, p, v)
			wantErr(t, err, secret.ErrNotFound, fmt.Sprintf("Get(%d) after Delete(1, 2)", v))
		}
		wantValue(t, mustGet(t, s, p, 0), "v3", 3)
	})
	t.Run("ok/twice", func(t *testing.T) {
		_, p := putVersions(t, s, 1)
		for i := range 2 {
			if err := s.Delete(ctx, p); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		_, err := s.Get(ctx, p, 0)
		wantErr(t, err, secret.ErrNotFound, "Get after two Deletes")
	})
	t.Run("ok/unknown-version-ignored", func(t *testing.T) {
		_, p := putVersions(t, s, 1)
		if err := s.Delete(ctx, p, 7); err != nil {
			t.Fatalf("Delete(7) of a 1-version secret: %v", err)
		}
		wantValue(t, mustGet(t, s, p, 0), "v1", 1)
	})
	t.Run("ok/put-after-delete", func(t *testing.T) {
		_, p := putVersions(t, s, 1)
		if err := s.Delete(ctx, p); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if v := mustPut(t, s, p, "v2"); v != 2 {
			t.Fatalf("Put after Delete returned version %d, want 2", v)
		}
		wantValue(t, mustGet(t, s, p, 0), "v2", 2)
	})
}

func testUndelete(t *testing.T, s secret.Store) {
	ctx := t.Context()

	t.Run("ok/current", func(t *testing.T) {
		_, p := putVersions(t, s, 2)
		if err := s.Delete(ctx, p); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := s.Undelete(ctx, p); err != nil {
			t.Fatalf("Undelete: %v", err)
		}
		wantValue(t, mustGet(t, s, p, 0), "v2", 2)
		if v := versionMeta(t, mustMetadata(t, s, p), 2); v.Deleted != nil || v.Destroyed {
			t.Fatalf("version 2 after Undelete: %+v, want live", v)
		}
	})
	t.Run("ok/given-versions", func(t *testing.T) {
		_, p := putVersions(t, s, 3)
		if err := s.Delete(ctx, p, 1, 2, 3); err != nil {
			t.Fatalf("Delete(1, 2, 3): %v", err)
		}
		if err := s.Undelete(ctx, p, 1, 3, 9); err != nil {
			t.Fatalf("Undelete(1, 3, 9): %v", err)
		}
		wantValue(t, mustGet(t, s, p, 1), "v1", 1)
		wantValue(t, mustGet(t, s, p, 0), "v3", 3)
		_, err := s.Get(ctx, p, 2)
		wantErr(t, err, secret.ErrNotFound, "Get(2), still deleted")
	})
	t.Run("ok/live-version", func(t *testing.T) {
		_, p := putVersions(t, s, 1)
		if err := s.Undelete(ctx, p); err != nil {
			t.Fatalf("Undelete of a live version: %v", err)
		}
		wantValue(t, mustGet(t, s, p, 0), "v1", 1)
	})
}

func testDestroy(t *testing.T, s secret.Store) {
	ctx := t.Context()

	t.Run("ok/current", func(t *testing.T) {
		f, p := putVersions(t, s, 2)
		if err := s.Destroy(ctx, p); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		_, err := s.Get(ctx, p, 0)
		wantErr(t, err, secret.ErrNotFound, "Get after Destroy")
		if err := s.Undelete(ctx, p, 2); err != nil {
			t.Fatalf("Undelete of a destroyed version: %v", err)
		}
		_, err = s.Get(ctx, p, 2)
		wantErr(t, err, secret.ErrNotFound, "Get after Destroy and Undelete")
		wantValue(t, mustGet(t, s, p, 1), "v1", 1)

		md := mustMetadata(t, s, p)
		if md.CurrentVersion != 2 || len(md.Versions) != 2 {
			t.Fatalf("metadata after Destroy: current %d, %d versions; want 2, 2",
				md.CurrentVersion, len(md.Versions))
		}
		if v := versionMeta(t, md, 2); !v.Destroyed {
			t.Fatalf("version 2 after Destroy: %+v, want Destroyed", v)
		}
		if v := versionMeta(t, md, 1); v.Destroyed || v.Deleted != nil {
			t.Fatalf("version 1 after destroying version 2: %+v, want live", v)
		}
		if names := mustList(t, s, f.dir); !slices.Equal(names, []string{"subject"}) {
			t.Fatalf("List after Destroy = %q, want [subject]", names)
		}
	})
	t.Run("ok/deleted-version", func(t *testing.T) {
		_, p := putVersions(t, s, 2)
		if err := s.Delete(ctx, p, 1); err != nil {
			t.Fatalf("Delete(1): %v", err)
		}
		if err := s.Destroy(ctx, p, 1, 5); err != nil {
			t.Fatalf("Destroy(1, 5): %v", err)
		}
		if err := s.Undelete(ctx, p, 1); err != nil {
			t.Fatalf("Undelete(1): %v", err)
		}
		_, err := s.Get(ctx, p, 1)
		wantErr(t, err, secret.ErrNotFound, "Get(1) after Destroy and Undelete")
		// Undelete skips destroyed versions, so the deletion mark stays.
		if v := versionMeta(t, mustMetadata(t, s, p), 1); !v.Destroyed || v.Deleted == nil {
			t.Fatalf("version 1 after Delete, Destroy, Undelete: %+v, want Destroyed and Deleted", v)
		}
		wantValue(t, mustGet(t, s, p, 0), "v2", 2)
	})
	t.Run("ok/put-after-destroy", func(t *testing.T) {
		_, p := putVersions(t, s, 1)
		if err := s.Destroy(ctx, p); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		if err := s.Destroy(ctx, p); err != nil {
			t.Fatalf("second Destroy: %v", err)
		}
		if v := mustPut(t, s, p, "v2"); v != 2 {
			t.Fatalf("Put after Destroy returned version %d, want 2", v)
		}
		wantValue(t, mustGet(t, s, p, 0), "v2", 2)
	})
}

func testNeverWritten(t *testing.T, s secret.Store) {
	f := newFixture(t, s)
	p := f.path("never")
	ctx := t.Context()

	tests := []struct {
		name string
		call func() error
	}{
		{"fail/delete", func() error { return s.Delete(ctx, p) }},
		{"fail/delete-versions", func() error { return s.Delete(ctx, p, 1) }},
		{"fail/undelete", func() error { return s.Undelete(ctx, p) }},
		{"fail/undelete-versions", func() error { return s.Undelete(ctx, p, 1) }},
		{"fail/destroy", func() error { return s.Destroy(ctx, p) }},
		{"fail/destroy-versions", func() error { return s.Destroy(ctx, p, 1) }},
		{"fail/metadata", func() error { _, err := s.Metadata(ctx, p); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.call(), secret.ErrNotFound, tc.name)
		})
	}
	if names := mustList(t, s, f.dir); len(names) != 0 {
		t.Fatalf("List after operations on a never-written path = %q, want none", names)
	}
}

func testMetadata(t *testing.T, s secret.Store) {
	_, p := putVersions(t, s, 3)
	md := mustMetadata(t, s, p)

	if md.Name != p.Name {
		t.Errorf("Name = %q, want %q", md.Name, p.Name)
	}
	if md.CurrentVersion != 3 {
		t.Errorf("CurrentVersion = %d, want 3", md.CurrentVersion)
	}
	if md.OldestVersion != 1 {
		t.Errorf("OldestVersion = %d, want 1 (lowest version present)", md.OldestVersion)
	}
	if md.Created.IsZero() || md.Updated.IsZero() {
		t.Errorf("Created %v, Updated %v: want both set", md.Created, md.Updated)
	}
	if md.Updated.Before(md.Created) {
		t.Errorf("Updated %v is before Created %v", md.Updated, md.Created)
	}
	if len(md.Versions) != 3 {
		t.Fatalf("got %d versions, want 3: %+v", len(md.Versions), md.Versions)
	}
	for i, v := range md.Versions {
		if v.Version != i+1 {
			t.Fatalf("Versions[%d].Version = %d, want %d (ascending)", i, v.Version, i+1)
		}
		if v.Deleted != nil || v.Destroyed {
			t.Errorf("version %d: %+v, want live", v.Version, v)
		}
		got := mustGet(t, s, p, v.Version)
		if !v.Created.Equal(got.Created) {
			t.Errorf("version %d: metadata Created %v, Get Created %v; want equal",
				v.Version, v.Created, got.Created)
		}
		if v.Created.Before(md.Created) {
			t.Errorf("version %d created %v before the secret %v", v.Version, v.Created, md.Created)
		}
	}
}

func testList(t *testing.T, s secret.Store) {
	ctx := t.Context()

	t.Run("ok/sorted-with-deleted-and-nested", func(t *testing.T) {
		f := newFixture(t, s)
		names := []string{
			"zeta", "alpha", "team", "team/db/password", "deleted", "destroyed", "Beta", "alpha.2",
		}
		for _, n := range names {
			mustPut(t, s, f.path(n), "v")
		}
		if err := s.Delete(ctx, f.path("deleted")); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := s.Destroy(ctx, f.path("destroyed")); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		// Neighbours that a prefix match or a missing directory check would
		// wrongly include.
		mustPut(t, s, secret.Path{Dir: f.dir + "-x", Name: "sibling"}, "v")
		mustPut(t, s, secret.Path{Dir: f.dir + "x", Name: "glued"}, "v")
		mustPut(t, s, secret.Path{Dir: f.root, Name: "seed"}, "v")
		other := newFixture(t, s)
		mustPut(t, s, other.path("alpha"), "v")
		mustPut(t, s, other.path("other-wallet"), "v")

		want := slices.Clone(names)
		slices.Sort(want)
		if got := mustList(t, s, f.dir); !slices.Equal(got, want) {
			t.Fatalf("List(%q) = %q, want %q", f.dir, got, want)
		}
	})
	t.Run("ok/parent-and-deeper-dirs", func(t *testing.T) {
		f := newFixture(t, s)
		mustPut(t, s, secret.Path{Dir: f.root, Name: "seed"}, "v")
		mustPut(t, s, f.path("a"), "v")
		mustPut(t, s, secret.Path{Dir: f.dir + "/sub", Name: "n"}, "v")

		tests := []struct {
			dir  string
			want []string
		}{
			{f.root, []string{"generic-secrets/a", "generic-secrets/sub/n", "seed"}},
			{f.dir, []string{"a", "sub/n"}},
			{f.dir + "/sub", []string{"n"}},
		}
		for _, tc := range tests {
			if got := mustList(t, s, tc.dir); !slices.Equal(got, tc.want) {
				t.Fatalf("List(%q) = %q, want %q", tc.dir, got, tc.want)
			}
		}
	})
	t.Run("ok/empty-dir", func(t *testing.T) {
		f := newFixture(t, s)
		if got := mustList(t, s, f.dir); len(got) != 0 {
			t.Fatalf("List of an unused dir = %q, want none", got)
		}
	})
}

func testNames(t *testing.T, s secret.Store) {
	f := newFixture(t, s)
	names := []string{
		"my.secret_name-1",
		"a b",
		"ключ",
		"team/db/password",
		"...",
		".hidden",
		"%2e%2e",
		"q?a=1#frag",
		"back\\slash",
		strings.Repeat("n", secret.MaxNameLen),
	}
	for _, name := range names {
		label := name
		if len(label) > 40 {
			label = fmt.Sprintf("%d-bytes", len(name))
		}
		t.Run("ok/"+label, func(t *testing.T) {
			p := f.path(name)
			value := "value of " + label
			mustPut(t, s, p, value)
			wantValue(t, mustGet(t, s, p, 0), value, 1)
			if md := mustMetadata(t, s, p); md.Name != name {
				t.Fatalf("Metadata.Name = %q, want %q", md.Name, name)
			}
		})
	}
	t.Run("ok/listed", func(t *testing.T) {
		want := slices.Clone(names)
		slices.Sort(want)
		if got := mustList(t, s, f.dir); !slices.Equal(got, want) {
			t.Fatalf("List(%q) = %q, want %q", f.dir, got, want)
		}
	})
	t.Run("ok/longest-dir", func(t *testing.T) {
		root := randomRoot(t)
		dir := root + "/" + strings.Repeat("d", secret.MaxDirLen-len(root)-1)
		p := secret.Path{Dir: dir, Name: "x"}
		mustPut(t, s, p, "v")
		wantValue(t, mustGet(t, s, p, 0), "v", 1)
	})
}

func testIsolation(t *testing.T, s secret.Store) {
	ctx := t.Context()
	mine, theirs := newFixture(t, s), newFixture(t, s)
	mustPut(t, s, theirs.path("shared-name"), "their value")
	mustPut(t, s, secret.Path{Dir: theirs.root, Name: "seed"}, "their seed")

	_, err := s.Get(ctx, mine.path("shared-name"), 0)
	wantErr(t, err, secret.ErrNotFound, "Get of another wallet's name")
	_, err = s.Get(ctx, secret.Path{Dir: mine.root, Name: "seed"}, 0)
	wantErr(t, err, secret.ErrNotFound, "Get of another wallet's seed")
	_, err = s.Metadata(ctx, mine.path("shared-name"))
	wantErr(t, err, secret.ErrNotFound, "Metadata of another wallet's name")
	wantErr(t, s.Delete(ctx, mine.path("shared-name")), secret.ErrNotFound,
		"Delete of another wallet's name")
	if got := mustList(t, s, mine.dir); len(got) != 0 {
		t.Fatalf("List of my dir = %q, want none", got)
	}

	v, err := s.Put(ctx, mine.path("shared-name"), "my value", cas(0))
	if err != nil || v != 1 {
		t.Fatalf("write-once of a name another wallet uses: version %d, error %v; want 1, nil", v, err)
	}
	wantValue(t, mustGet(t, s, theirs.path("shared-name"), 0), "their value", 1)
}

func invalidPaths(root string) []struct {
	name string
	p    secret.Path
} {
	dir := root + "/generic-secrets"
	return []struct {
		name string
		p    secret.Path
	}{
		{"empty-dir", secret.Path{Dir: "", Name: "x"}},
		{"empty-name", secret.Path{Dir: dir, Name: ""}},
		{"dot-dot-name", secret.Path{Dir: dir, Name: ".."}},
		{"dot-dot-escape", secret.Path{Dir: dir, Name: "../seed"}},
		{"dot-dot-inside", secret.Path{Dir: dir, Name: "a/../../seed"}},
		{"dot-name", secret.Path{Dir: dir, Name: "."}},
		{"dot-segment", secret.Path{Dir: dir, Name: "a/./b"}},
		{"empty-segment", secret.Path{Dir: dir, Name: "a//b"}},
		{"leading-slash", secret.Path{Dir: dir, Name: "/a"}},
		{"trailing-slash", secret.Path{Dir: dir, Name: "a/"}},
		{"only-slash", secret.Path{Dir: dir, Name: "/"}},
		{"dir-leading-slash", secret.Path{Dir: "/" + dir, Name: "a"}},
		{"dir-trailing-slash", secret.Path{Dir: dir + "/", Name: "a"}},
		{"dir-dot-dot", secret.Path{Dir: dir + "/..", Name: "seed"}},
		{"dir-empty-segment", secret.Path{Dir: root + "//generic-secrets", Name: "a"}},
		{"nul", secret.Path{Dir: dir, Name: "a\x00b"}},
		{"newline", secret.Path{Dir: dir, Name: "a\nb"}},
		{"delete-char", secret.Path{Dir: dir, Name: "a\x7fb"}},
		{"c1-control", secret.Path{Dir: dir, Name: "a\u0085b"}},
		{"dir-control", secret.Path{Dir: root + "/generic\x01secrets", Name: "a"}},
		{"invalid-utf8", secret.Path{Dir: dir, Name: "a\xffb"}},
		{"dir-invalid-utf8", secret.Path{Dir: root + "/\xc3", Name: "a"}},
		{"name-too-long", secret.Path{Dir: dir, Name: strings.Repeat("n", secret.MaxNameLen+1)}},
		{"dir-too-long", secret.Path{Dir: root + "/" + strings.Repeat("d", secret.MaxDirLen), Name: "a"}},
	}
}

func testInvalidPath(t *testing.T, s secret.Store) {
	ctx := t.Context()
	f := newFixture(t, s)

	for _, tc := range invalidPaths(f.root) {
		t.Run("fail/"+tc.name, func(t *testing.T) {
			p := tc.p
			calls := []struct {
				op   string
				call func() error
			}{
				{"Put", func() error { _, err := s.Put(ctx, p, "v", secret.PutOptions{}); return err }},
				{"Put(cas=0)", func() error { _, err := s.Put(ctx, p, "v", cas(0)); return err }},
				{"Get", func() error { _, err := s.Get(ctx, p, 0); return err }},
				{"Delete", func() error { return s.Delete(ctx, p) }},
				{"Undelete", func() error { return s.Undelete(ctx, p, 1) }},
				{"Destroy", func() error { return s.Destroy(ctx, p) }},
				{"Metadata", func() error { _, err := s.Metadata(ctx, p); return err }},
			}
			for _, c := range calls {
				wantErr(t, c.call(), secret.ErrInvalidPath, c.op)
			}
			if err := p.Validate(); !errors.Is(err, secret.ErrInvalidPath) {
				t.Fatalf("Validate: got %v, want %v", err, secret.ErrInvalidPath)
			}
		})
	}

	dirs := []struct{ name, dir string }{
		{"empty", ""},
		{"leading-slash", "/" + f.dir},
		{"trailing-slash", f.dir + "/"},
		{"dot-dot", f.dir + "/.."},
		{"dot", f.root + "/."},
		{"empty-segment", f.root + "//generic-secrets"},
		{"nul", f.dir + "\x00"},
		{"invalid-utf8", f.root + "/\xff"},
		{"too-long", f.root + "/" + strings.Repeat("d", secret.MaxDirLen)},
	}
	for _, tc := range dirs {
		t.Run("fail/list-"+tc.name, func(t *testing.T) {
			_, err := s.List(ctx, tc.dir)
			wantErr(t, err, secret.ErrInvalidPath, "List")
		})
	}

	t.Run("ok/nothing-written", func(t *testing.T) {
		if got := mustList(t, s, f.root); len(got) != 0 {
			t.Fatalf("List(%q) after refused writes = %q, want none", f.root, got)
		}
	})
}

func testPing(t *testing.T, s secret.Store) {
	t.Run("ok", func(t *testing.T) {
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}
