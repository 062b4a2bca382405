package deploy

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dockerfile = "../Dockerfile"

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	Image, Name string
	Ins         []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows what this
// project's Dockerfile uses: comments, blank lines, "\" continuations and
// "FROM image AS name"; no heredocs.
func parseDockerfile(path string) ([]stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var stages []stage
	var logical strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(line)
		text := logical.String()
		logical.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.Join(strings.Fields(args), " ")}
		if in.Cmd == "FROM" {
			image, name, _ := strings.Cut(in.Args, " ")
			_, name, _ = strings.Cut(strings.ToUpper(name), "AS ")
			stages = append(stages, stage{Image: image, Name: strings.ToLower(strings.TrimSpace(name))})
			continue
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("%s before the first FROM", in.Cmd)
		}
		stages[len(stages)-1].Ins = append(stages[len(stages)-1].Ins, in)
	}
	return stages, sc.Err()
}

// all returns the arguments of every instruction cmd in the stage.
func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.Ins {
		if in.Cmd == cmd {
			out = append(out, in.Args)
		}
	}
	return out
}

// envOf returns the stage's ENV settings (KEY=VALUE form, no spaces).
func (s stage) envOf() map[string]string {
	out := map[string]string{}
	for _, args := range s.all("ENV") {
		for _, kv := range strings.Fields(args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				out[k] = strings.Trim(v, `"`)
			}
		}
	}
	return out
}

// goDirective is the go line of go.mod.
var goDirective = regexp.MustCompile(`(?m)^go (\d+\.\d+)`)

// imageUser is the user the runtime stage runs as, "uid[:gid]".
func imageUser(t *testing.T) string {
	t.Helper()
	stages, err := parseDockerfile(dockerfile)
	if err != nil || len(stages) == 0 {
		t.Fatalf("parsing %s: %v", dockerfile, err)
	}
	users := stages[len(stages)-1].all("USER")
	if len(users) == 0 {
		return ""
	}
	return users[len(users)-1]
}

func TestDockerfile(t *testing.T) {
	stages, err := parseDockerfile(dockerfile)
	if err != nil {
		t.Fatalf("parsing %s: %v", dockerfile, err)
	}
	if len(stages) < 2 {
		t.Fatalf("%s has %d stage(s); want a build stage and a runtime stage", dockerfile, len(stages))
	}
	build, runtime := stages[0], stages[len(stages)-1]

	t.Run("build stage", func(t *testing.T) {
		mod, err := os.ReadFile("../go.mod")
		if err != nil {
			t.Fatal(err)
		}
		goVersion := goDirective.FindSubmatch(mod)
		if goVersion == nil {
			t.Fatal("go.mod has no go directive")
		}
		if want := "golang:" + string(goVersion[1]); !strings.HasPrefix(build.Image, want) ||
			build.Name == "" {
			t.Errorf("first stage = FROM %s AS %q, want FROM %s... AS <name> (go.mod's Go)",
				build.Image, build.Name, want)
		}
		i := slices.IndexFunc(build.all("RUN"),
			func(r string) bool { return strings.Contains(r, "go build") })
		if i < 0 {
			t.Fatal("the build stage has no RUN go build")
		}
		run := build.all("RUN")[i]
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/prism-agent"} {
			if !strings.Contains(run, want) {
				t.Errorf("go build must use %s: %s", want, run)
			}
		}
	})

	t.Run("runtime stage", func(t *testing.T) {
		if strings.HasPrefix(runtime.Image, "golang") {
			t.Errorf("the runtime stage is %s; it needs no toolchain", runtime.Image)
		}
		copied := slices.ContainsFunc(runtime.all("COPY"), func(c string) bool {
			return strings.Contains(c, "--from="+build.Name) && strings.Contains(c, "prism-agent")
		})
		if !copied {
			t.Errorf("the runtime stage must COPY --from=%s the binary", build.Name)
		}
		user := imageUser(t)
		uid, _, _ := strings.Cut(user, ":")
		if user == "" || uid == "0" || uid == "root" {
			t.Errorf("USER = %q; the agent must not run as root", user)
		}
		env := runtime.envOf()
		if env["AGENT_HTTP_HOST"] != "0.0.0.0" {
			t.Errorf("ENV AGENT_HTTP_HOST = %q, want 0.0.0.0: a container's loopback is "+
				"reachable from the container only", env["AGENT_HTTP_HOST"])
		}
		port := env["AGENT_HTTP_PORT"]
		if !slices.Contains(runtime.all("EXPOSE"), port) || port != "8085" {
			t.Errorf("EXPOSE %v, want the agent's port 8085 (AGENT_HTTP_PORT=%s)",
				runtime.all("EXPOSE"), port)
		}
		data := env["PRISM_DATA_DIR"]
		if data == "" || !slices.ContainsFunc(runtime.all("VOLUME"), func(v string) bool {
			return strings.Contains(v, `"`+data+`"`) || v == data
		}) {
			t.Errorf("PRISM_DATA_DIR=%q must be a VOLUME", data)
		}
		// The data folder and the folder bootstrap writes in the compose
		// stack must belong to the image's user, so that new volumes do.
		owned := slices.ContainsFunc(runtime.all("RUN"), func(r string) bool {
			return strings.Contains(r, "chown") && strings.Contains(r, data) &&
				strings.Contains(r, "/run/prism")
		})
		if !owned {
			t.Errorf("a RUN must create %s and /run/prism owned by the runtime user", data)
		}
		hc := runtime.all("HEALTHCHECK")
		if len(hc) == 0 || !strings.Contains(hc[0], "/_system/health") {
			t.Errorf("HEALTHCHECK %v must call /_system/health", hc)
		}
	})

	t.Run("ignore file", func(t *testing.T) {
		raw, err := os.ReadFile("../.dockerignore")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		for _, want := range []string{".git", "**/prism-data", "**/.env", "**/*.db"} {
			if !slices.Contains(lines, want) {
				t.Errorf(".dockerignore must exclude %s from the build context", want)
			}
		}
	})
}

// TestImageUserOwnsTheRootToken checks that vault-init.sh gives the root
// token to the uid the bootstrap container (the agent image) runs as.
func TestImageUserOwnsTheRootToken(t *testing.T) {
	uid, _, _ := strings.Cut(imageUser(t), ":")
	p := loadCompose(t, composeEnv)
	if got := env(p.Services["vault-init"], "PRISM_TOKEN_OWNER"); got != uid {
		t.Fatalf("vault-init PRISM_TOKEN_OWNER = %q, want the image's uid %q", got, uid)
	}
	if u := p.Services["bootstrap"].User; u != "" {
		t.Fatalf("bootstrap runs as %q; it must run as the image's user", u)
	}
}
