package deploy

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeFile = "compose/compose.yaml"

// composeEnv stands in for deploy/compose/.env: every variable the file
// requires, with values of the kind .env.example asks for.
var composeEnv = map[string]string{
	"POSTGRES_PASSWORD":           "0f0e0d0c0b0a09080706050403020100",
	"PRISM_DB_OWNER_PASSWORD":     "1f1e1d1c1b1a19181716151413121110",
	"PRISM_DB_AGENT_PASSWORD":     "2f2e2d2c2b2a29282726252423222120",
	"PRISM_ADMIN_TOKEN":           "3f3e3d3c3b3a39383736353433323130",
	"PRISM_PLATFORM_API_KEY":      "4f4e4d4c4b4a49484746454443424140",
	"PRISM_OPERATOR_PLATFORM_KEY": "5f5e5d5c5b5a59585756555453525150",
}

// loadCompose loads compose.yaml as `docker compose config` does, with
// compose-go (the library Docker Compose is built on): schema validation,
// interpolation, and the consistency checks that every service, volume and
// network named exists.
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	var pairs []string
	for k, v := range env {
		pairs = append(pairs, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{composeFile}, cli.WithEnv(pairs),
		cli.WithInterpolation(true), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s does not load: %v", composeFile, err)
	}
	return p
}

// env returns a service's environment variable, "" when unset.
func env(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

// mountFor returns the mount of s that holds the container path p.
func mountFor(s types.ServiceConfig, p string) (types.ServiceVolumeConfig, bool) {
	for _, m := range s.Volumes {
		if p == m.Target || strings.HasPrefix(p, strings.TrimSuffix(m.Target, "/")+"/") {
			return m, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

// composeProblems checks what compose-go cannot know: that the files and
// folders the services are told about are mounted, that secrets reach only
// the services that need them, and that the agent, APISIX and PostgreSQL
// agree on names.
func composeProblems(p *types.Project, apisixEnvs []string, sqlRoles []string) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	want := []string{"agent", "apisix", "bootstrap", "postgres", "vault", "vault-init"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		bad("services = %v, want %v", sorted(got), want)
	}
	for _, name := range sorted(p.ServiceNames()) {
		s := p.Services[name]
		for _, m := range s.Volumes {
			if m.Type == types.VolumeTypeBind {
				if _, err := os.Stat(m.Source); err != nil {
					bad("%s: bind mount source %s does not exist", name, m.Source)
				}
			}
			if m.Type == types.VolumeTypeVolume && name != "vault-init" && name != "bootstrap" &&
				m.Source == "vault-keys" {
				bad("%s mounts vault-keys, which holds Vault's root token and unseal key", name)
			}
		}
		// Every file or folder a variable names must be inside a mount.
		for k := range s.Environment {
			v := env(s, k)
			if (strings.HasSuffix(k, "_FILE") || strings.HasSuffix(k, "_DIR")) && v != "" {
				if _, ok := mountFor(s, v); !ok {
					bad("%s: %s=%s is in no volume of the service", name, k, v)
				}
			}
		}
		// A script the entrypoint runs must be mounted from an existing file.
		for _, arg := range s.Entrypoint {
			if strings.HasSuffix(arg, ".sh") {
				m, ok := mountFor(s, arg)
				if !ok || m.Type != types.VolumeTypeBind || m.Target != arg {
					bad("%s: entrypoint script %s is not bind-mounted", name, arg)
				}
			}
		}
		if len(s.Ports) > 0 && name != "apisix" {
			bad("%s publishes a port; only APISIX is reachable from outside", name)
		}
		if s.Build != nil {
			if _, err := os.Stat(path.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				bad("%s: build file %s/%s does not exist", name, s.Build.Context, s.Build.Dockerfile)
			}
		}
	}

	deps := map[string]map[string]string{
		"vault-init": {"vault": types.ServiceConditionStarted},
		"bootstrap":  {"vault-init": types.ServiceConditionCompletedSuccessfully},
		"agent": {"bootstrap": types.ServiceConditionCompletedSuccessfully,
			"postgres": types.ServiceConditionHealthy},
		"apisix": {"agent": types.ServiceConditionHealthy},
	}
	for svc, ds := range deps {
		for dep, cond := range ds {
			if got := p.Services[svc].DependsOn[dep].Condition; got != cond {
				bad("%s must depend on %s with condition %s, got %q", svc, dep, cond, got)
			}
		}
	}

	agent, bootstrap := p.Services["agent"], p.Services["bootstrap"]
	if got := env(agent, "AGENT_HTTP_PUBLIC_PREFIX"); got != publicPrefix {
		bad("agent: AGENT_HTTP_PUBLIC_PREFIX = %q, want %q, the prefix APISIX strips", got, publicPrefix)
	}
	runDir := env(bootstrap, "PRISM_RUN_DIR")
	bootRun, _ := mountFor(bootstrap, runDir)
	for _, k := range []string{"PRISM_SETTINGS_FILE", "VAULT_APPROLE_SECRET_ID_FILE"} {
		m, ok := mountFor(agent, env(agent, k))
		if !ok || m.Source != bootRun.Source || !m.ReadOnly {
			bad("agent: %s must be in the volume bootstrap writes (%s), mounted read-only",
				k, bootRun.Source)
		}
	}
	keysDir := env(p.Services["vault-init"], "PRISM_VAULT_KEYS_DIR")
	if !strings.HasPrefix(env(bootstrap, "VAULT_TOKEN_FILE"), keysDir+"/") {
		bad("bootstrap: VAULT_TOKEN_FILE must be the root token vault-init writes")
	}
	for _, k := range []string{"DATABASE_URL", "DATABASE_MIGRATION_URL"} {
		u, err := url.Parse(env(agent, k))
		if err != nil || u.User == nil || !slices.Contains(sqlRoles, u.User.Username()) ||
			u.Host != "postgres:5432" {
			bad("agent: %s must name a role of postgres-init.sql on postgres:5432", k)
			continue
		}
		if k == "DATABASE_URL" && u.User.Username() == "postgres" {
			bad("agent: DATABASE_URL must not be the superuser")
		}
	}
	agentURL, _ := url.Parse(env(agent, "DATABASE_URL"))
	migURL, _ := url.Parse(env(agent, "DATABASE_MIGRATION_URL"))
	if agentURL != nil && migURL != nil && agentURL.User != nil && migURL.User != nil &&
		agentURL.User.Username() == migURL.User.Username() {
		bad("agent: DATABASE_URL and DATABASE_MIGRATION_URL must be different roles: the " +
			"agent's must not own the tables")
	}
	for _, k := range apisixEnvs {
		if env(p.Services["apisix"], k) == "" {
			bad("apisix: %s (nginx_config.envs of %s) is not set", k, apisixConfigFile)
		}
	}
	for _, f := range []string{"config.yaml", "apisix.yaml"} {
		if _, ok := mountFor(p.Services["apisix"], "/usr/local/apisix/conf/"+f); !ok {
			bad("apisix: %s is not mounted at /usr/local/apisix/conf/%s", f, f)
		}
	}
	return problems
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// createRole is a CREATE ROLE of postgres-init.sql, with its options.
var createRole = regexp.MustCompile(`(?is)CREATE ROLE (\w+)([^;]*);`)

// sqlRoles returns the roles postgres-init.sql creates, checking that none
// may bypass row-level security.
func sqlRoles(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("compose/postgres-init.sql")
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range createRole.FindAllStringSubmatch(string(raw), -1) {
		opts := strings.ToUpper(m[2])
		if !strings.Contains(opts, "NOSUPERUSER") || !strings.Contains(opts, "NOBYPASSRLS") {
			t.Errorf("postgres-init.sql: role %s must be NOSUPERUSER NOBYPASSRLS", m[1])
		}
		roles = append(roles, m[1])
	}
	return roles
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t, composeEnv)
	reportProblems(t, composeProblems(p, loadAPISIXConfig(t).NginxConfig.Envs, sqlRoles(t)))
}

func TestComposeFileNeedsItsSecrets(t *testing.T) {
	for name := range composeEnv {
		t.Run("fail/"+name+" unset", func(t *testing.T) {
			var pairs []string
			for k, v := range composeEnv {
				if k != name {
					pairs = append(pairs, k+"="+v)
				}
			}
			opts, err := cli.NewProjectOptions([]string{composeFile}, cli.WithEnv(pairs))
			if err != nil {
				t.Fatal(err)
			}
			_, err = opts.LoadProject(context.Background())
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("loading without %s: err = %v, want one naming it", name, err)
			}
		})
	}
}

// TestComposeChecksCatchMistakes shows that composeProblems fails on the
// mistakes it is for.
func TestComposeChecksCatchMistakes(t *testing.T) {
	envs := loadAPISIXConfig(t).NginxConfig.Envs
	roles := sqlRoles(t)
	setEnv := func(svc, k, v string) func(p *types.Project) {
		return func(p *types.Project) { p.Services[svc].Environment[k] = &v }
	}
	cases := []struct {
		name   string
		change func(p *types.Project)
		want   string
	}{
		{"fail/prefix differs from APISIX's", setEnv("agent", "AGENT_HTTP_PUBLIC_PREFIX", "/api"),
			"AGENT_HTTP_PUBLIC_PREFIX"},
		{"fail/secret id file outside the volumes", setEnv("agent", "VAULT_APPROLE_SECRET_ID_FILE",
			"/tmp/secret-id"), "VAULT_APPROLE_SECRET_ID_FILE=/tmp/secret-id is in no volume"},
		{"fail/agent as the table owner", setEnv("agent", "DATABASE_URL",
			"postgres://prism_owner:x@postgres:5432/prism"), "must be different roles"},
		{"fail/agent as superuser", setEnv("agent", "DATABASE_URL",
			"postgres://postgres:x@postgres:5432/prism"), "DATABASE_URL must name a role"},
		{"fail/agent sees the root token", func(p *types.Project) {
			s := p.Services["agent"]
			s.Volumes = append(s.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeVolume,
				Source: "vault-keys", Target: "/vault/keys"})
			p.Services["agent"] = s
		}, "agent mounts vault-keys"},
		{"fail/agent port published", func(p *types.Project) {
			s := p.Services["agent"]
			s.Ports = []types.ServicePortConfig{{Target: 8085, Published: "8085"}}
			p.Services["agent"] = s
		}, "agent publishes a port"},
		{"fail/agent starts before bootstrap", func(p *types.Project) {
			s := p.Services["agent"]
			s.DependsOn["bootstrap"] = types.ServiceDependency{Condition: types.ServiceConditionStarted}
			p.Services["agent"] = s
		}, "agent must depend on bootstrap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t, composeEnv)
			tc.change(p)
			problems := composeProblems(p, envs, roles)
			if !slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Fatalf("problems = %q, want one containing %q", problems, tc.want)
			}
		})
	}
}
