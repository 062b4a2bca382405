package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prism-agent/prism-agent/internal/testenv"
)

// buildAgent builds the prism-agent command once for the test.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prism-agent")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/prism-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building prism-agent: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runAgentProcess starts `prism-agent serve` with env and waits until it
// is ready; it is stopped when the test ends.
func runAgentProcess(t *testing.T, bin string, env map[string]string) string {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "AGENT_HTTP_PORT="+fmt.Sprint(port), "PRISM_DATA_DIR="+t.TempDir())
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(url + "/_system/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Fatalf("agent process not ready:\n%s", logs.String())
	return ""
}

// TestDIDIndexAcrossProcesses creates 50 DIDs at once in one wallet, split
// over two agent processes sharing one PostgreSQL and one Vault.
func TestDIDIndexAcrossProcesses(t *testing.T) {
	bin := buildAgent(t)
	v := testenv.StartVaultDev(t)
	agentURL, migrationURL := testenv.PostgresURLs(t)
	env := map[string]string{"SECRET_STORAGE_BACKEND": "vault", "VAULT_ADDR": v.Addr,
		"VAULT_TOKEN": v.RootToken, "DATABASE_URL": agentURL, "DATABASE_MIGRATION_URL": migrationURL,
		"PRISM_API_KEY_HASH_KEY":      strings.Repeat("k", 32),
		"DEFAULT_WALLET_AUTH_API_KEY": "shared-tenant-key-0123456789"}
	urls := []string{runAgentProcess(t, bin, env), runAgentProcess(t, bin, env)}

	body := `{"documentTemplate":{"publicKeys":[{"id":"auth-1","purpose":"authentication"}]}}`
	var mu sync.Mutex
	dids := map[string]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(url string) {
			defer wg.Done()
			req, _ := http.NewRequest("POST", url+"/did-registrar/dids", strings.NewReader(body))
			req.Header.Set("apikey", "shared-tenant-key-0123456789")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var out struct {
				LongFormDid string `json:"longFormDid"`
			}
			if resp.StatusCode != 201 || decodeInto(resp, &out) != nil {
				t.Errorf("create: status %d", resp.StatusCode)
				return
			}
			mu.Lock()
			dids[out.LongFormDid] = true
			mu.Unlock()
		}(urls[i%2])
	}
	wg.Wait()
	if len(dids) != 50 {
		t.Fatalf("%d distinct DIDs from 50 creates over two processes", len(dids))
	}
	req, _ := http.NewRequest("GET", urls[0]+"/did-registrar/dids?limit=100", nil)
	req.Header.Set("apikey", "shared-tenant-key-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Contents []struct {
			LongFormDid string `json:"longFormDid"`
		} `json:"contents"`
	}
	if err := decodeInto(resp, &page); err != nil || len(page.Contents) != 50 {
		t.Fatalf("the wallet lists %d DIDs (%v)", len(page.Contents), err)
	}
}

func decodeInto(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
